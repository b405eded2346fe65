"""The JSON API behind the pages: reads (GET) and actions (POST with a JSON body, audited with the user)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from ragsync.dashboard import actions, views
from ragsync.dashboard.access import EditAccess, JsonBody, ReadAccess, TriggerAccess
from ragsync.dashboard.deps import QueueQueryDep, ReadDb, WriteDb

MAX_SELECTED = 1000


router = APIRouter(prefix="/api")


class NoArguments(BaseModel):
    """An action that takes no arguments: the body is ``{}``."""

    model_config = ConfigDict(extra="forbid")


class RetryRequest(BaseModel):
    """Retry the selected items, or every failed and dead item when ``ids`` is left out."""

    model_config = ConfigDict(extra="forbid")
    ids: list[int] | None = Field(default=None, min_length=1, max_length=MAX_SELECTED)
    statuses: list[Literal["failed", "dead"]] = Field(default=["failed", "dead"], min_length=1)


class ClearRequest(BaseModel):
    """Delete every item of one status."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["sent", "failed", "dead"]


class DeleteRequest(BaseModel):
    """Delete the selected items."""

    model_config = ConfigDict(extra="forbid")
    ids: list[int] = Field(min_length=1, max_length=MAX_SELECTED)


# ---------------------------------------------------------------------------------------------- reads


@router.get("/overview", dependencies=[ReadAccess])
def get_overview(db: ReadDb) -> dict[str, Any]:
    """Return what the dashboard shows: counts, per-type status, breaker, last connection test, health."""
    endpoint, endpoint_error = actions.configured_endpoint()
    data = views.overview(db, endpoint, endpoint_error)
    body: dict[str, Any] = views.jsonable(data)
    body["last_success_at"] = views.jsonable(data.last_success_at)
    return body


@router.get("/queue", dependencies=[ReadAccess])
def get_queue(db: ReadDb, query: QueueQueryDep) -> dict[str, Any]:
    """Return one page of the queue (without documents) and the query strings of the neighbouring pages."""
    listing = views.queue_listing(db, query)
    return {
        "rows": views.jsonable(listing.rows), "total": listing.total, "total_capped": listing.total_capped,
        "offset": listing.offset, "first": listing.first, "previous": listing.previous, "next": listing.next,
        "last": listing.last,
    }


@router.get("/queue/{queue_id}", dependencies=[ReadAccess])
def get_queue_item(db: ReadDb, queue_id: int) -> dict[str, Any]:
    """Return one queue item with its document and the ledger's state of its entity."""
    item = views.queue_item(db, queue_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"queue item {queue_id} does not exist")
    return {"item": views.jsonable(item.row), "document": item.document, "ledger": views.jsonable(item.ledger)}


@router.get("/log", dependencies=[ReadAccess])
def get_log(db: ReadDb, event: str | None = None, before_id: int | None = None,
            limit: Annotated[int, Query(ge=1, le=500)] = views.LOG_PAGE_SIZE) -> dict[str, Any]:
    """Return audit entries, newest first, optionally of one event; page with ``before_id``."""
    page = views.log_page(db, event or None, before_id, limit)
    return {"entries": views.jsonable(page.entries), "older": page.older}


# ---------------------------------------------------------------------------------------------- actions


@router.post("/actions/test-connection", dependencies=[EditAccess, JsonBody])
def post_test_connection(body: NoArguments, user: GetUserDep, db: WriteDb) -> dict[str, Any]:
    """POST a signed ping to the RAG backend and return ``{ok, message}`` (audited)."""
    return actions.test_connection(db, user.get_name())


@router.post("/actions/process-queue", dependencies=[TriggerAccess, JsonBody])
def post_process_queue(body: NoArguments, request: Request, user: GetUserDep, session: SessionDep,
                       db: WriteDb) -> dict[str, Any]:
    """Create a DAG run of ``ragsync_process_queue`` (the scheduler delivers; audited)."""
    return actions.trigger_process_queue(db, request, user, session)


@router.post("/actions/retry", dependencies=[EditAccess, JsonBody])
def post_retry(body: RetryRequest, user: GetUserDep, db: WriteDb) -> dict[str, Any]:
    """Make the selected (or all) failed and dead items due now with a fresh retry budget (audited)."""
    return actions.retry(db, user.get_name(), body.ids, body.statuses)


@router.post("/actions/clear", dependencies=[EditAccess, JsonBody])
def post_clear(body: ClearRequest, user: GetUserDep, db: WriteDb) -> dict[str, Any]:
    """Delete every item of one status (audited)."""
    return actions.clear(db, user.get_name(), body.status)


@router.post("/actions/delete", dependencies=[EditAccess, JsonBody])
def post_delete(body: DeleteRequest, user: GetUserDep, db: WriteDb) -> dict[str, Any]:
    """Delete the selected items (audited)."""
    return actions.delete(db, user.get_name(), body.ids)
