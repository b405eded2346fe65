"""Request dependencies shared by the RAG Sync pages and their JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from ragsync.dashboard import views
from ragsync.dashboard.database import read_database, write_database
from ragsync.db import Database

ReadDb = Annotated[Database, Depends(read_database)]
WriteDb = Annotated[Database, Depends(write_database)]


def queue_query(
    status_filter: Annotated[str | None, Query(alias="status")] = None,
    entity_type: str | None = None,
    action: str | None = None,
    sort: str | None = None,
    order: str | None = None,
    per_page: int | None = None,
    after: str | None = None,
    before: str | None = None,
    last: bool = False,
    offset: int | None = None,
) -> views.QueueQuery:
    """Validate the queue grid's query string (an invalid one is answered by the app's 400 handler)."""
    return views.QueueQuery.parse(status_filter, entity_type, action, sort, order, per_page, after, before, last,
                                  offset)


QueueQueryDep = Annotated[views.QueueQuery, Depends(queue_query)]
