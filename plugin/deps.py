"""FastAPI dependencies: everything a route needs comes from app state, never from globals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from models.ensemble import Ensemble
from plugin.pipeline import Pipeline
from plugin.settings import Settings
from plugin.storage.db import session_scope


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.sessions) as session:
        yield session


def get_pipeline(request: Request) -> Pipeline:
    return request.app.state.pipeline


def get_ensemble(request: Request) -> Ensemble:
    return request.app.state.ensemble


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
EnsembleDep = Annotated[Ensemble, Depends(get_ensemble)]
