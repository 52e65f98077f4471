"""Shared fixtures: dev data, real databases (SQLite file, PostgreSQL), the demo ensemble, apps.

Everything is real: Alembic upgrades each database to head (so migrations are tested),
the demo GGUF runs, the MLLP listener binds a real loopback port.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("RADLITE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def dev_data_dir() -> Path:
    """shared/data/dev beside the checkout (CI lays shared/ next to its fresh clone)."""
    env = os.environ.get("RADLITE_DEV_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data" / "dev"


@pytest.fixture(scope="session")
def dev() -> Path:
    path = dev_data_dir()
    assert path.is_dir(), f"dev data not found at {path}; set RADLITE_DEV_DATA"
    return path


@pytest.fixture(scope="session")
def dev_reports(dev: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, (dev / "reports.jsonl").read_text().splitlines())}


@pytest.fixture(scope="session")
def ensemble() -> Iterator[Any]:
    """The packaged manifest (demo GGUF for both roles + rules), loaded once per session."""
    from models.ensemble import Ensemble

    ens = Ensemble.load(None)
    yield ens
    ens.close()


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'radlite.db'}"


def _pg_available() -> bool:
    try:
        eng = create_engine(PG_ADMIN_URL)
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 in CI")
        pytest.skip("PostgreSQL not reachable")
    name = f"radlite_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs a test on both SQLite and PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def settings_for() -> Any:
    """`settings_for(url, **overrides)`: test settings (a fixture, because medspacy-quickumls
    installs a top-level `tests` package that shadows `import tests.conftest`)."""
    return make_settings


def make_settings(database_url: str, **overrides: Any) -> Any:
    from plugin.settings import Settings

    values: dict[str, Any] = {
        "database_url": database_url,
        "http_port": 0,
        "mllp_port": 0,
        "mllp_enabled": False,
        "jwt_required": False,
        "worker_poll_seconds": 0.1,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)
