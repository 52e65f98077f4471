"""The one app factory. `radlite serve` and the tests call `create_app(settings)`.

The lifespan opens the database, loads the model ensemble from the manifest, starts the
analysis worker, the outbox sender (application ACKs) and the MLLP listener, and puts each on `app.state`; nothing is built at
import time, so two differently configured apps can live in one process.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from models.ensemble import Ensemble
from plugin import audit
from plugin.mllp import MllpServer
from plugin.outbox import OutboxSender
from plugin.pipeline import Pipeline
from plugin.routes import audit as audit_routes
from plugin.routes import cds_hooks as cds_routes
from plugin.routes import fhir as fhir_routes
from plugin.routes import health as health_routes
from plugin.routes import hl7 as hl7_routes
from plugin.security import install_http_guards
from plugin.settings import Settings
from plugin.storage.db import make_engine, make_sessionmaker, session_scope, upgrade
from plugin.worker import Worker

log = logging.getLogger("radlite.app")


def _record_config(pipeline: Pipeline, settings: Settings) -> None:
    """Every start is a configuration event: which manifest and model files are in force."""
    with session_scope(pipeline.sessions) as s:
        audit.record_configuration(s, audit.ConfigLoaded(
            actor="radlite", actor_kind="system",
            detail={
                "manifest_version": pipeline.manifest_version,
                "models": [{k: m.get(k) for k in ("id", "role", "backend", "sha256", "demo")} for m in pipeline.ensemble.describe()],
                "environment": settings.environment,
                "jwt_required": settings.jwt_required,
                "hook_budget_seconds": settings.hook_budget_seconds,
                "database": settings.database_url.split(":", 1)[0],
            },
        ))


def create_app(settings: Settings, *, ensemble: Ensemble | None = None) -> FastAPI:
    """Build the service. Pass `ensemble` to share one loaded model set between apps (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        cds_routes.load_services(settings.cds_services_dir)  # fails the start-up if none are found
        if settings.auto_migrate:
            await run_in_threadpool(upgrade, settings.database_url)
        engine = make_engine(settings.database_url)
        sessions = make_sessionmaker(engine)
        own_ensemble = ensemble is None
        models = ensemble if ensemble is not None else await run_in_threadpool(Ensemble.load, settings.models)
        await run_in_threadpool(models.warm)  # GGUF files and the rules NLP now, not on the first hook
        pipeline = Pipeline(settings, sessions, models)
        await run_in_threadpool(_record_config, pipeline, settings)
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessions = sessions
        app.state.ensemble = models
        app.state.pipeline = pipeline
        app.state.worker = None
        app.state.mllp = None
        app.state.outbox = None
        if settings.worker_enabled:
            app.state.worker = Worker(pipeline, settings.worker_poll_seconds)
            app.state.worker.start()
            app.state.outbox = OutboxSender(sessions, settings, settings.worker_poll_seconds)
            pipeline.on_outbound = app.state.outbox.wake
            app.state.outbox.start()
        if settings.mllp_enabled:
            wake = app.state.worker.wake if app.state.worker else None
            app.state.mllp = MllpServer(pipeline, settings.mllp_host, settings.mllp_port, on_queued=wake)
            await app.state.mllp.start()
        try:
            yield
        finally:
            if app.state.mllp is not None:
                await app.state.mllp.stop()
            if app.state.worker is not None:
                await run_in_threadpool(app.state.worker.stop)
            if app.state.outbox is not None:
                await run_in_threadpool(app.state.outbox.stop)
            pipeline.close()
            if own_ensemble:
                models.close()
            engine.dispose()

    app = FastAPI(
        title="RadLite CDS",
        version="0.1.0",
        summary="Radiology decision support: CDS Hooks, HL7 v2 and FHIR R4 around the RadLite model ensemble.",
        lifespan=lifespan,
    )
    install_http_guards(app, settings)
    app.include_router(cds_routes.router)
    app.include_router(health_routes.router)
    app.include_router(hl7_routes.router)
    app.include_router(fhir_routes.router)
    app.include_router(audit_routes.router)
    return app
