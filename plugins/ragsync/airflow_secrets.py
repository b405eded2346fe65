"""Read Airflow connections and Variables the way Airflow itself does, in every context ragsync runs in.

* Inside a task (a worker, ``dag.test()``, ``airflow dags test``): the Task SDK's chain — a custom
  secrets backend if one is configured, then ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment
  variables, then the Execution API (which reads the metadata database on the API server).
* Outside a task (the ``ragsync`` CLI, the dashboard inside the API server): Airflow's server chain —
  the custom secrets backend, the environment variables, then the metadata database itself.

Unlike ``BaseHook.get_connection`` and ``Variable.get``, a backend that *fails* is never taken
for "not defined": when no backend has the key and one of them raised, the lookup raises
:class:`SecretsUnavailableError` (transient: Airflow retries the task) with that backend's reason.
A missing connection is a :class:`~ragsync.errors.ConnectionNotConfiguredError`; a missing
Variable is ``None`` (the Variable is optional: its defaults keep ragsync switched off).
"""

from __future__ import annotations

import logging
from typing import Any

from ragsync.errors import ConfigError, ConnectionNotConfiguredError, TransientError

log = logging.getLogger(__name__)

_ENV_BACKEND = "EnvironmentVariablesBackend"
_EXECUTION_API_BACKEND = "ExecutionAPISecretsBackend"


class SecretsUnavailableError(TransientError):
    """A secrets backend or the metadata database could not be read; the lookup may succeed later."""


class _NotFound(Exception):
    """The Execution API answered that the key does not exist."""


def in_task() -> bool:
    """Return True inside a task run, where the Task SDK's supervisor answers lookups."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:  # pragma: no cover - the Task SDK ships with Airflow 3
        return False
    return getattr(task_runner, "SUPERVISOR_COMMS", None) is not None


def _backends() -> list[Any]:
    if in_task():
        from airflow.sdk.execution_time.supervisor import ensure_secrets_backend_loaded

        return list(ensure_secrets_backend_loaded())
    from airflow.sdk.configuration import ensure_secrets_loaded

    # Airflow's server search path: the custom backend, environment variables, the metadata database.
    return list(ensure_secrets_loaded())


def _execution_api(kind: str, key: str) -> Any:
    """Ask the task's supervisor directly, telling "not found" apart from "could not ask"."""
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, GetConnection, GetVariable
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    message = GetConnection(conn_id=key) if kind == "connection" else GetVariable(key=key)
    answer = SUPERVISOR_COMMS.send(message)
    if isinstance(answer, ErrorResponse):
        if answer.error in (ErrorType.CONNECTION_NOT_FOUND, ErrorType.VARIABLE_NOT_FOUND):
            raise _NotFound(key)
        if answer.error == ErrorType.PERMISSION_DENIED:
            raise ConfigError(f"Airflow denied this task access to {kind} {key!r}: {answer.detail}")
        raise SecretsUnavailableError(f"the Execution API answered {answer.error.value}: {answer.detail}")
    if kind == "connection":
        from airflow.sdk.execution_time.context import _process_connection_result_conn

        return _process_connection_result_conn(answer)
    return getattr(answer, "value", None)


def _lookup(kind: str, key: str) -> Any:
    """Return the first value a backend has for ``key``, None when none has it and none failed."""
    from airflow.sdk.exceptions import AirflowSecretsBackendAccessDenied

    failures: list[str] = []
    for backend in _backends():
        name = type(backend).__name__
        try:
            if name == _EXECUTION_API_BACKEND:
                try:
                    value = _execution_api(kind, key)
                except _NotFound:
                    value = None
            elif kind == "connection":
                value = backend.get_connection(conn_id=key)
            else:
                value = backend.get_variable(key=key)
        except AirflowSecretsBackendAccessDenied as exc:
            raise ConfigError(f"Airflow's {name} denied access to {kind} {key!r}: {exc}") from None
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - every backend failure is reported, none is "not found"
            if name == _ENV_BACKEND:
                variable = ("AIRFLOW_CONN_" if kind == "connection" else "AIRFLOW_VAR_") + key.upper()
                raise ConfigError(
                    f"the environment variable {variable} is not a valid Airflow {kind} "
                    f"({type(exc).__name__}: {_first_line(exc)}); fix or unset it"
                ) from None
            log.warning("reading %s %r from %s failed: %s", kind, key, name, type(exc).__name__)
            failures.append(f"{name}: {type(exc).__name__}: {_first_line(exc)}")
            continue
        if value is not None:
            return value
    if failures:
        raise SecretsUnavailableError(
            f"could not read Airflow {kind} {key!r}: " + "; ".join(failures)
            + ". Check that Airflow's metadata database (or the configured secrets backend) is reachable,"
            " then try again (a DAG task is retried by Airflow)."
        )
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def get_connection(conn_id: str) -> Any:
    """Return the Airflow connection ``conn_id`` (SDK or ORM ``Connection``), its secrets masked in logs."""
    conn = _lookup("connection", conn_id)
    if conn is None:
        raise ConnectionNotConfiguredError(
            f"Airflow connection {conn_id!r} is not defined in any secrets backend, the environment "
            f"(AIRFLOW_CONN_{conn_id.upper()}) or Airflow's metadata database. Create it with "
            f"`airflow connections add {conn_id} ...` (see the README's connections table)."
        )
    if getattr(conn, "password", None):
        try:
            from airflow.sdk.log import mask_secret

            mask_secret(conn.password)
        except Exception:  # noqa: BLE001 - masking is best effort outside a task
            pass
    return conn


def get_variable(key: str) -> str | None:
    """Return the raw value of Variable ``key``, or None when no backend has it."""
    value = _lookup("variable", key)
    return None if value is None else str(value)
