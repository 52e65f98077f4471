"""The one settings object: environment variables with the RADLITE_ prefix, or a .env file.

Nothing builds `Settings()` at import time; `radlite` commands and tests build one and
pass it to `create_app(settings)`, so two differently configured apps can coexist.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger("radlite.settings")

SAMPLE_SECRETS = {"changeme", "change-me", "secret", "password", "admin", ""}


class TrustedIssuer(BaseModel):
    """A CDS Client allowed to call us: its `iss` and where its public keys are."""

    iss: str = Field(description="Exact `iss` claim value.")
    jku: str | None = Field(
        default=None,
        description="Allow-listed JWK Set URL; a token's jku must be absent or equal it. Keys are fetched from it,"
        " unless jwks_path is set too.",
    )
    jwks_path: Path | None = Field(
        default=None,
        description="JWK Set file exchanged out of band. When set, keys come only from it (pinned), also for"
        " tokens carrying the allow-listed jku, which is then never fetched.",
    )
    tenants: list[str] | None = Field(
        default=None,
        description="Allowed `tenant` claims (CDS Hooks: opaque organisation ids). When set, a token of this"
        " issuer must carry one of them; unset: the tenant is not checked.",
    )

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedIssuer:
        if not self.jku and not self.jwks_path:
            raise ValueError(f"issuer {self.iss!r} needs a jku or a jwks_path")
        if self.tenants is not None and not [t for t in self.tenants if t]:
            # An empty list would refuse every token of the issuer: leave `tenants` out to not check it.
            raise ValueError(f"issuer {self.iss!r}: tenants is an empty list (leave it out to not check tenants)")
        return self


class Hl7Destination(BaseModel):
    """An MLLP listener we deliver HL7 v2 messages to (an interface engine's inbound port)."""

    host: str = Field(description="Host of the MLLP listener.")
    port: int = Field(ge=1, le=65535, description="Its port.")
    wait_for_commit: bool = Field(
        default=True,
        description="Count a message delivered only when the listener's ACK (CA/AA) comes back;"
        " false: delivered once written (for engines that never answer).",
    )

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class Hl7Route(Hl7Destination):
    """Where application ACKs (MSH-16) for one sender go: an MLLP listener of the sender's engine.

    Enhanced-mode application ACKs travel on a connection we open, not on the sender's
    (which may be gone by the time the models have run).
    """

    sender: str = Field(description="MSH-3^MSH-4 as sent ('RIS^HOSP'), MSH-3 alone ('RIS'), or '*' for any sender.")

    def matches(self, sender: str) -> int:
        """How well this route fits 'APP^FACILITY' (2 exact, 1 application only, 0 wildcard, -1 no)."""
        if self.sender == sender:
            return 2
        if "^" not in self.sender and sender.split("^", 1)[0] == self.sender:
            return 1
        return 0 if self.sender == "*" else -1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RADLITE_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development", description="'production' refuses sample secrets and disabled security."
    )
    database_url: str = Field(
        default="sqlite:///radlite.db", description="SQLAlchemy URL; SQLite file by default, PostgreSQL in production."
    )
    http_host: str = Field(default="127.0.0.1", description="HTTP listen address.")
    http_port: int = Field(default=8080, ge=0, le=65535, description="HTTP port (0 picks a free one).")
    mllp_host: str = Field(default="127.0.0.1", description="MLLP listen address.")
    mllp_port: int = Field(default=2575, ge=0, le=65535, description="MLLP port (0 picks a free one).")
    mllp_enabled: bool = Field(default=True, description="Start the MLLP listener with `radlite serve`.")
    models: Path | None = Field(default=None, description="Model manifest (TOML); default the packaged one.")
    auto_migrate: bool = Field(default=True, description="Run Alembic migrations to head when the service starts.")
    public_base_url: str | None = Field(
        default=None,
        description="Our externally visible base URL, e.g. https://cds.example.org; JWT `aud` is checked against it."
        " Default: the URL the request came in on.",
    )

    # CDS Hooks
    hook_budget_seconds: float = Field(
        default=1.5, gt=0, le=30, description="Longest a hook waits on models before answering with what is ready."
    )
    jwt_required: bool = Field(default=True, description="Require a JWT bearer (CDS Hooks rules) on every HTTP door that takes PHI: CDS Hooks, FHIR $analyze, HL7 over HTTP.")
    trusted_issuers: Annotated[list[TrustedIssuer], NoDecode] = Field(
        default_factory=list, description="JSON list of {iss, jku | jwks_path, tenants} allowed to call us."
    )
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300, description="Clock skew allowed on exp/iat.")
    jwt_max_age_seconds: int = Field(default=3600, ge=60, le=86400, description="Oldest iat accepted; jti kept this long.")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["*"], description="Comma-separated origins allowed by CORS ('*' for the sandbox)."
    )
    max_request_bytes: int = Field(default=5_000_000, ge=10_000, description="Largest request body accepted.")
    fhir_timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Timeout for fhirServer fetches.")
    cds_services_dir: Path | None = Field(
        default=None,
        description="Folder of CDS Hooks service definitions (*.json); default the repository's cds-hooks/."
        " Set it when the package is installed without its source tree.",
    )

    # Work
    worker_enabled: bool = Field(default=True, description="Run the analysis worker inside `radlite serve`.")
    worker_poll_seconds: float = Field(default=0.5, gt=0, le=60, description="Queue poll interval when idle.")
    worker_max_attempts: int = Field(default=3, ge=1, le=20, description="Attempts before a message is parked as error.")

    # HL7 v2 out: application ACKs (MSH-16) after processing
    hl7_routes: Annotated[list[Hl7Route], NoDecode] = Field(
        default_factory=list,
        description="JSON list of {sender, host, port, wait_for_commit}: where application ACKs go per sender."
        " Without a route an application ACK is kept as 'unroutable' for review.",
    )
    hl7_results_route: Hl7Destination | None = Field(
        default=None,
        description="JSON {host, port, wait_for_commit}: send every analysed HL7 report's results there as ORU^R01"
        " (an engine that routes results onward). Unset: results are not sent.",
    )
    outbox_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Connect and reply timeout per send.")
    outbox_max_attempts: int = Field(default=10, ge=1, le=100, description="Sends before an outbound message is parked as failed.")
    outbox_retry_seconds: float = Field(default=5.0, gt=0, le=3600, description="First retry delay; doubles per attempt, at most 15 min.")

    # Audit page
    audit_user: str | None = Field(default=None, description="User name for /audit; unset means the page is closed.")
    audit_password: SecretStr | None = Field(default=None, description="Password for /audit.")
    audit_retention_days: int = Field(default=2190, ge=1, description="Age after which events are archived (6 years).")
    audit_archive_dir: Path = Field(default=Path("audit-archive"), description="Where archived NDJSON goes.")

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Application log level (logs carry ids and hashes only)."
    )

    @field_validator("trusted_issuers", mode="before")
    @classmethod
    def _parse_issuers(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("hl7_routes", mode="before")
    @classmethod
    def _parse_routes(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    def route_for(self, sender: str | None) -> Hl7Route | None:
        """The most specific route for 'APP^FACILITY' (exact, then application, then '*')."""
        scored = [(r.matches(sender or ""), r) for r in self.hl7_routes]
        best = max((pair for pair in scored if pair[0] >= 0), key=lambda pair: pair[0], default=None)
        return best[1] if best else None

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_driver(cls, value: str) -> str:
        # psycopg 3 is the driver we ship; accept the common spellings of the URL.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        problems = []
        if self.audit_user and (
            self.audit_password is None or self.audit_password.get_secret_value().lower() in SAMPLE_SECRETS
        ):
            problems.append("RADLITE_AUDIT_PASSWORD is unset or a sample value")
        if not self.jwt_required:
            problems.append("RADLITE_JWT_REQUIRED=false turns authentication off on the HTTP doors (CDS Hooks, FHIR, HL7)")
        if problems and self.environment == "production":
            raise ValueError("; ".join(problems) + " (not allowed in production)")
        for p in problems:
            log.warning("UNSAFE SETTING (development only): %s", p)
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
