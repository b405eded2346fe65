"""Who may see and do what on the RAG Sync pages, decided by Airflow's auth manager.

Every route depends on an Airflow user (``GetUserDep``: the ``_token`` cookie the Airflow UI sets
at login, or an ``Authorization: Bearer`` token). On top of that:

* reading (pages and read API) needs read access to the DAG ``ragsync_process_queue``;
* queue actions (Test Connection, Retry, Delete, Clear) need edit access to the DAG
  ``ragsync_queue_admin``, the DAG that performs the same actions from its trigger form;
* Process Queue needs the right to trigger ``ragsync_process_queue`` (create a DAG run).

With the simple auth manager that means: ``viewer`` reads, ``user``/``op``/``admin`` act. With the
FAB or Keycloak auth managers, grant the permissions on those two DAGs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import Depends, HTTPException, Request, status

READ_DAG_ID = "ragsync_process_queue"
ADMIN_DAG_ID = "ragsync_queue_admin"
PROCESS_DAG_ID = "ragsync_process_queue"

can_read = requires_access_dag("GET", param_dag_id=READ_DAG_ID)
can_edit = requires_access_dag("PUT", param_dag_id=ADMIN_DAG_ID)
can_trigger = requires_access_dag("POST", access_entity=DagAccessEntity.RUN, param_dag_id=PROCESS_DAG_ID)

ReadAccess = Depends(can_read)
EditAccess = Depends(can_edit)
TriggerAccess = Depends(can_trigger)


@dataclass(frozen=True)
class Permissions:
    """What the signed-in user may do on these pages (to show or disable the action buttons)."""

    username: str
    can_edit: bool
    can_trigger: bool


def permissions_of(user: BaseUser) -> Permissions:
    """Ask the auth manager what ``user`` may do here."""
    manager = get_auth_manager()
    return Permissions(
        username=user.get_name(),
        can_edit=manager.is_authorized_dag(method="PUT", details=DagDetails(id=ADMIN_DAG_ID), user=user),
        can_trigger=manager.is_authorized_dag(
            method="POST", access_entity=DagAccessEntity.RUN, details=DagDetails(id=PROCESS_DAG_ID), user=user),
    )


def current_permissions(user: GetUserDep) -> Permissions:
    """Return the signed-in user's permissions (a route dependency)."""
    return permissions_of(user)


PermissionsDep = Annotated[Permissions, Depends(current_permissions)]


def require_json(request: Request) -> None:
    """Refuse an action whose body is not JSON (so that a cross-site HTML form cannot trigger it)."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/json":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "actions take a JSON body: send Content-Type: application/json")


JsonBody = Depends(require_json)


def login_url(request: Request) -> str:
    """Return Airflow's login page URL that comes back to the requested page afterwards.

    The page to come back to is given as a path (not an absolute URL), so that it stays right
    behind a reverse proxy that rewrites the host.
    """
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return get_auth_manager().get_url_login(next_url=back)
