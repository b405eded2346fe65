"""The package's layers import one way: Magento -> Documents -> State -> Delivery -> Pipeline -> CLI and pages.

Every import counts, at module level, inside functions and under ``TYPE_CHECKING`` alike: a layer
that reaches up, even lazily, is the arrow this test exists to stop. docs/architecture.md lists
the layers and what each may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "ragsync"

# layer -> the ragsync subpackages and modules it must not import
FORBIDDEN: dict[str, set[str]] = {
    "vocabulary": {"*"},
    "documents": {"magento", "state", "delivery", "pipeline", "dashboard", "cli"},
    "magento": {"state", "delivery", "pipeline", "dashboard", "cli"},
    "state": {"magento", "delivery", "pipeline", "dashboard", "cli"},
    "delivery": {"magento", "pipeline", "dashboard", "cli"},
    "pipeline": {"dashboard", "cli"},
}


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    """Return (line, module) of every ragsync import in a file of ``package``, relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return [(line, module) for line, module in found if module == "ragsync" or module.startswith("ragsync.")]


def _violations(path: Path, relative: Path) -> list[str]:
    """Return the forbidden imports of the package file at ``relative`` (to plugins/ragsync), read from ``path``."""
    layer = relative.parts[0].removesuffix(".py")
    forbidden = FORBIDDEN.get(layer, set())
    bad = []
    for line, module in _imports(path, ".".join(["ragsync", *relative.parent.parts])):
        parts = module.split(".")
        target = parts[1] if len(parts) > 1 else ""
        if target in forbidden or ("*" in forbidden and target and target != layer):
            bad.append(f"ragsync/{relative}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_layer_imports_one_above_it(layer: str) -> None:
    files = [PACKAGE / f"{layer}.py"] if (PACKAGE / f"{layer}.py").exists() else sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no module found for layer {layer}"
    violations = [v for path in files for v in _violations(path, path.relative_to(PACKAGE))]
    assert violations == [], "\n".join(violations)


def test_the_walker_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    sample = tmp_path / "probe.py"
    sample.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ragsync.delivery import policy\n"
                      "def f():\n    from ..pipeline import tasks\n", encoding="utf-8")
    assert _violations(sample, Path("state/_layer_probe.py")) == [
        "ragsync/state/_layer_probe.py:3 imports ragsync.delivery",
        "ragsync/state/_layer_probe.py:3 imports ragsync.delivery.policy",
        "ragsync/state/_layer_probe.py:5 imports ragsync.pipeline",
        "ragsync/state/_layer_probe.py:5 imports ragsync.pipeline.tasks",
    ]
