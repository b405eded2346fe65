"""The RAG Sync FastAPI app that Airflow's API server mounts at ``/ragsync`` (see ``ragsync.plugin``).

Pages: ``/`` (dashboard), ``/queue``, ``/queue/{id}``, ``/log``; JSON API under ``/api``; the
pages' CSS and JS under ``/static``. Every route needs a signed-in Airflow user; no OpenAPI or
docs routes are published, since they would be the only public ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import MySQLdb
from airflow.api_fastapi.core_api.security import GetUserDep
from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ragsync.dashboard import api, pages
from ragsync.dashboard.access import READ_DAG_ID, login_url
from ragsync.dashboard.database import DashboardUnavailableError, describe_mysql_error
from ragsync.dashboard.views import InvalidQueryError

log = logging.getLogger(__name__)

URL_PREFIX = "/ragsync"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_FILES = {"ragsync.css": "text/css", "ragsync.js": "text/javascript"}


def _wants_json(request: Request) -> bool:
    path = request.url.path
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return path.startswith(f"{root}/api/") or "text/html" not in request.headers.get("accept", "")


def _error(request: Request, status_code: int, message: str, title: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message}, status_code=status_code)
    return pages.render(request, "error.html", None, "", status_code=status_code, title=title, message=message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_401_UNAUTHORIZED and not _wants_json(request):
        return RedirectResponse(login_url(request), status_code=status.HTTP_303_SEE_OTHER)
    if exc.status_code == status.HTTP_403_FORBIDDEN and not _wants_json(request):
        message = (f"Your Airflow user may not see the RAG Sync pages: they need read access to the DAG "
                   f"{READ_DAG_ID}. ({exc.detail})")
        return _error(request, exc.status_code, message, "Access denied")
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if _wants_json(request):
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return _error(request, exc.status_code, detail, "Not found" if exc.status_code == 404 else "Error")


async def _unavailable(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DashboardUnavailableError)
    log.warning("RAG Sync page %s unavailable: %s", request.url.path, exc.message)
    return _error(request, exc.status_code, exc.message, "The pipeline's database is unavailable")


async def _mysql_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MySQLdb.Error)
    message = describe_mysql_error(exc)
    log.warning("RAG Sync page %s failed: %s", request.url.path, message)
    return _error(request, status.HTTP_503_SERVICE_UNAVAILABLE, message, "The pipeline's database failed")


async def _invalid_query(request: Request, exc: Exception) -> Response:
    return _error(request, status.HTTP_400_BAD_REQUEST, str(exc), "Invalid filter")


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if _wants_json(request):
        return JSONResponse({"detail": exc.errors()}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)
    return _error(request, status.HTTP_400_BAD_REQUEST, "; ".join(str(e.get("msg")) for e in exc.errors()),
                  "Invalid request")


def static_file(name: str, user: GetUserDep) -> FileResponse:
    """Serve one of the pages' CSS/JS files (to signed-in users, like every route here)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no static file {name!r}")
    return FileResponse(STATIC_DIR / name, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})


def create_app() -> FastAPI:
    """Build the RAG Sync app: pages, JSON API, static files and error pages."""
    app = FastAPI(title="RAG Sync", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.add_api_route("/static/{name}", static_file, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DashboardUnavailableError, _unavailable)
    app.add_exception_handler(MySQLdb.Error, _mysql_error)
    app.add_exception_handler(InvalidQueryError, _invalid_query)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app
