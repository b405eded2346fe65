"""`make airflow` finds the virtualenv's `airflow` for the components `airflow standalone` starts."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ragsync_dev.demo.standalone import with_interpreter_on_path


def test_the_interpreters_bin_directory_comes_first_on_path() -> None:
    env = with_interpreter_on_path({"PATH": "/usr/bin:/bin", "OTHER": "kept"})
    first, *rest = env["PATH"].split(os.pathsep)
    assert first == str(Path(sys.executable).parent) and rest == ["/usr/bin", "/bin"]
    assert env["OTHER"] == "kept"
    # with a bare system PATH, `airflow` resolves to the one installed next to this interpreter
    assert shutil.which("airflow", path=env["PATH"]) == str(Path(sys.executable).parent / "airflow")
    assert with_interpreter_on_path({})["PATH"] == first
