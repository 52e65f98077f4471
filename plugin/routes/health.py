"""Liveness and what is loaded: for load balancers and operators (no PHI here)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from plugin.deps import EnsembleDep
from plugin.storage.db import session_scope

log = logging.getLogger("radlite.health")

router = APIRouter(tags=["health"])


def _database_ok(request: Request) -> bool:
    """Whether the database answers a trivial query (every door stores before it answers)."""
    try:
        with session_scope(request.app.state.sessions) as s:
            s.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        log.warning("health: database unreachable: %s", type(exc).__name__)
        return False
    return True


# HEAD too: load balancers and uptime probes often ask with HEAD, and a 405 reads as "down".
@router.api_route("/health", methods=["HEAD"], include_in_schema=False)
@router.get(
    "/health",
    summary="Service health: database reachable, models loaded, manifest version.",
    responses={503: {"description": "The database is unreachable: take this replica out of rotation."}},
)
async def health(request: Request, ensemble: EnsembleDep) -> JSONResponse:
    # Unauthenticated, so file system paths stay out (`radlite models list` shows them to operators).
    models = [{k: v for k, v in m.items() if k != "path"} for m in ensemble.describe()]
    body: dict[str, Any] = {"status": "ok", "manifest_version": ensemble.manifest_version, "models": models}
    if not await run_in_threadpool(_database_ok, request):
        # 503, not 500: a load balancer reads it as "not ready", and no traceback reaches the caller.
        body.update(status="unavailable", database="unreachable")
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
