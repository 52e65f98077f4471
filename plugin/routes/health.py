"""Liveness and what is loaded: for load balancers and operators (no PHI here)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from plugin.deps import EnsembleDep, SessionDep

router = APIRouter(tags=["health"])


@router.get("/health", summary="Service health: database reachable, models loaded, manifest version.")
def health(session: SessionDep, ensemble: EnsembleDep) -> dict[str, Any]:
    session.execute(text("SELECT 1"))
    # Unauthenticated, so file system paths stay out (`radlite models list` shows them to operators).
    models = [{k: v for k, v in m.items() if k != "path"} for m in ensemble.describe()]
    return {"status": "ok", "manifest_version": ensemble.manifest_version, "models": models}
