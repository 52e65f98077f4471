"""CDS Hooks 2.0 wire types with the spec's invariants as validators.

No maintained Python package validates CDS Hooks JSON (integration.md §6), so these are
transcribed from §1.2-1.7. Inbound types allow unknown fields (the spec lets clients add
them); outbound types forbid them, refuse empty strings and lists, and are serialised
with `wire()` so that no null ever leaves. The invariants are named as in the 3.0
ballot FSH (cds-resp-1..6, cds-fb-1..3, cds-r-1).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

__all__ = [
    "SUMMARY_LIMIT",
    "Action",
    "Card",
    "CdsRequest",
    "CdsResponse",
    "Coding",
    "CodingIn",
    "FeedbackItem",
    "FeedbackRequest",
    "FhirAuthorization",
    "Link",
    "OrderSelectContext",
    "OrderSignContext",
    "OverrideReason",
    "PatientViewContext",
    "ServiceDefinition",
    "Discovery",
    "Source",
    "Suggestion",
    "empty_paths",
    "parse_context",
    "prefetch_faults",
    "summary_length",
    "truncate_summary",
    "wire",
]

SUMMARY_LIMIT = 140
"""`summary` SHALL be shorter than this many characters (spec §1.6)."""

Text = Annotated[str, StringConstraints(min_length=1)]
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Id = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=_PRINTABLE)]
"""An inbound id (patient, user, encounter): bounded, as every place it is stored is, and free of
control characters (no FHIR id or reference holds one; PostgreSQL refuses NUL in text)."""

UUID_PATTERN = r"^(urn:uuid:)?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
"""A UUID in its RFC 4122 string form, bare or as its URN; any version (the dev set's are v5)."""


def summary_length(text: str) -> int:
    """Length as the longer of code points and UTF-16 units: a JavaScript EHR counts the latter."""
    return max(len(text), len(text.encode("utf-16-le")) // 2)


def truncate_summary(text: str, limit: int = SUMMARY_LIMIT - 1) -> str:
    """`text` cut to at most `limit` characters on a word boundary, never inside a character.

    Cuts happen between code points (so no surrogate pair is split), back off over
    combining marks (so an accent is never separated from its letter) and end with '…'.
    """
    text = " ".join(text.split())
    if summary_length(text) <= limit:
        return text
    n = len(text)
    while n and summary_length(text[:n] + "…") > limit:
        n -= 1
    # A combining mark belongs to the letter before it: drop the letter with its marks.
    while 0 < n < len(text) and unicodedata.combining(text[n]):
        n -= 1
    head = text[:n]
    space = head.rfind(" ")
    if space > limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:-") + "…"


class _Out(BaseModel):
    """Outbound shape: unknown fields refused, so a typo cannot reach an EHR."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class _In(BaseModel):
    """Inbound shape: extra fields are allowed by the spec and kept."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Coding(_Out):
    """CDS Hooks' own trimmed Coding: code and system required."""

    code: Text
    system: Text
    display: Text | None = None


class OverrideReason(Coding):
    """A Coding that MUST carry a display (cds-resp-4)."""

    display: Text


class Source(_Out):
    label: Text
    url: Text | None = None
    icon: Text | None = None
    topic: Coding | None = None


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: Text  # cds-resp-5
    resource: dict[str, Any] | None = None
    resourceId: Text | None = None

    @model_validator(mode="after")
    def _shape(self) -> Action:
        if self.type == "delete" and (self.resourceId is None or self.resource is not None):
            raise ValueError("cds-resp-2: a delete action carries resourceId and no resource")
        if self.type in ("create", "update") and not self.resource:
            raise ValueError(f"a {self.type} action carries the whole resource")
        return self


class Suggestion(_Out):
    label: Text
    uuid: Text | None = None
    isRecommended: bool | None = None
    actions: Annotated[list[Action], Field(min_length=1)] | None = None


class Link(_Out):
    label: Text
    url: Text
    type: Literal["absolute", "smart"]
    appContext: Text | None = None
    autolaunchable: bool | None = None

    @model_validator(mode="after")
    def _app_context(self) -> Link:
        if self.type != "smart" and self.appContext is not None:
            raise ValueError("cds-resp-3: appContext is only for smart links")
        return self


class Card(_Out):
    uuid: Text | None = None
    summary: Text
    detail: Text | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: Annotated[list[Suggestion], Field(min_length=1)] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: Annotated[list[OverrideReason], Field(min_length=1)] | None = None
    links: Annotated[list[Link], Field(min_length=1)] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("summary")
    @classmethod
    def _short(cls, value: str) -> str:
        if summary_length(value) >= SUMMARY_LIMIT:
            raise ValueError(f"summary must be shorter than {SUMMARY_LIMIT} characters")
        return value

    @model_validator(mode="after")
    def _suggestions(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("cds-resp-6: suggestions need selectionBehavior")
        if self.selectionBehavior == "at-most-one" and self.suggestions:
            if sum(1 for s in self.suggestions if s.isRecommended) > 1:
                raise ValueError("cds-resp-1: at-most-one allows at most one recommended suggestion")
        return self


class CdsResponse(_Out):
    cards: list[Card]
    systemActions: Annotated[list[Action], Field(min_length=1)] | None = None


# ---- discovery -------------------------------------------------------------------------


class ServiceDefinition(_Out):
    """One discovery entry, as stored in cds-hooks/*.json."""

    hook: Text
    title: Text | None = None
    description: Text
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$")]
    prefetch: dict[str, Text] | None = None
    usageRequirements: Text | None = None
    extension: dict[str, Any] | None = None


class Discovery(_Out):
    services: list[ServiceDefinition]


# ---- request ---------------------------------------------------------------------------


class FhirAuthorization(_In):
    """Spec §1.5. Only the token is needed to fetch, so only it and its type are enforced.

    `token_type` is compared case-insensitively (OAuth 2.0, RFC 6749 §5.1: "bearer" is as
    good as "Bearer"). `expires_in`, `scope` and `subject` are REQUIRED by the spec but unused
    here; some EHRs leave one out, and refusing the whole hook for it would cost the
    clinician the cards, so they are tolerated when absent.
    """

    access_token: Text
    token_type: Literal["Bearer"]
    expires_in: int | float | None = Field(default=None, ge=0)  # seconds; a clock-derived 299.7 is no fault
    scope: Text | None = None
    subject: Text | None = None
    patient: Text | None = None

    @field_validator("token_type", mode="before")
    @classmethod
    def _bearer(cls, value: Any) -> Any:
        return "Bearer" if isinstance(value, str) and value.lower() == "bearer" else value

    def __repr__(self) -> str:  # the token must never reach a log line or traceback
        return f"FhirAuthorization(subject={self.subject!r}, scope={self.scope!r}, access_token=***)"

    __str__ = __repr__


class CdsRequest(_In):
    hook: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    hookInstance: Annotated[str, Field(json_schema_extra={"format": "uuid"})]
    fhirServer: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")] | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    """Key -> FHIR resource or null. Only the keys a service's definition names are its business:
    the route checks their values (`prefetch_faults`); any other key is ignored whatever it holds."""

    @field_validator("hookInstance")
    @classmethod
    def _uuid(cls, value: str) -> str:
        """Spec §1.3: "A universally unique identifier (UUID) for this particular hook call". It is
        our audit and correlation key, so a guessable or free-form value is refused."""
        if not re.fullmatch(UUID_PATTERN, value):
            raise ValueError("hookInstance must be a UUID (CDS Hooks 2.0 §1.3)")
        return value

    @model_validator(mode="after")
    def _server_with_token(self) -> CdsRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("cds-r-1: fhirAuthorization needs fhirServer")
        return self


class PatientViewContext(_In):
    userId: Id
    patientId: Id
    encounterId: Id | None = None

    @field_validator("patientId", "encounterId")
    @classmethod
    def _bare_id(cls, value: str | None, info: Any) -> str | None:
        """The spec asks for the bare FHIR id; some EHRs send the relative reference ("Patient/123").
        It names the same resource, and read as a different patient it would hide every card."""
        prefix = "Patient/" if info.field_name == "patientId" else "Encounter/"
        if value is not None and value.startswith(prefix) and len(value) > len(prefix):
            return value[len(prefix):]
        return value


class _Bundle(_In):
    resourceType: Literal["Bundle"]
    entry: list[dict[str, Any]] | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: _Bundle


class OrderSelectContext(OrderSignContext):
    selections: Annotated[list[Text], Field(min_length=1)]


def prefetch_faults(prefetch: dict[str, Any] | None, keys: Any) -> list[str]:
    """The advertised prefetch keys whose value is neither null nor a FHIR resource (spec §1.4).

    A value is what the client's FHIR read or search returned: a resource (a JSON object with a
    `resourceType`), or null when there is no data. Keys the service did not ask for are not
    looked at (unknown fields are ignored).
    """
    sent = prefetch or {}
    return [k for k in keys if k in sent and sent[k] is not None
            and not (isinstance(sent[k], dict) and isinstance(sent[k].get("resourceType"), str))]


_CONTEXTS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-sign": OrderSignContext,
    "order-select": OrderSelectContext,
}


def parse_context(hook: str, context: dict[str, Any]) -> PatientViewContext:
    """The hook's context model (hooks-lib STU1); raises pydantic.ValidationError when it does not fit."""
    model = _CONTEXTS.get(hook)
    if model is None:
        raise ValueError(f"hook {hook!r} is not supported")
    return model.model_validate(context)


# ---- feedback --------------------------------------------------------------------------


class AcceptedSuggestion(_In):
    id: Text


class CodingIn(_In):
    """A Coding as a client sends it back (in feedback): code and system required, extras ignored."""

    code: Text
    system: Text
    display: Text | None = None


class OverrideReasonFeedback(_In):
    reason: CodingIn | None = None
    userComment: Text | None = None

    @model_validator(mode="after")
    def _something(self) -> OverrideReasonFeedback:
        if self.reason is None and self.userComment is None:
            raise ValueError("cds-fb-3: an overrideReason needs reason or userComment")
        return self


class FeedbackItem(_In):
    card: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]  # ours are 36
    outcome: Literal["accepted", "overridden"]  # cds-fb-1
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReasonFeedback | None = None
    outcomeTimestamp: Annotated[str, StringConstraints(
        max_length=64, pattern=r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")]
    """RFC 3339 date-time (spec §1.7); its §5.6 lets `T` and `Z` be lower case."""

    @model_validator(mode="after")
    def _accepted(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("cds-fb-2: accepted feedback lists acceptedSuggestions")
        return self


class FeedbackRequest(_In):
    feedback: Annotated[list[FeedbackItem], Field(min_length=1)]


# ---- serialisation ---------------------------------------------------------------------


def wire(model: BaseModel) -> dict[str, Any]:
    """JSON-ready dict without nulls; raises ValueError if an empty value slipped in."""
    data = model.model_dump(mode="json", exclude_none=True)
    bad = empty_paths(data)
    if bad:
        raise ValueError(f"null or empty values at {', '.join(bad[:5])}")
    return data


def empty_paths(value: Any, path: str = "$", *, allow: frozenset[str] = frozenset({"$.cards"})) -> list[str]:
    """JSON paths holding null, '', [] or {} (spec §1.3), except the allowed `"cards": []`."""
    out: list[str] = []
    if value is None or (isinstance(value, (str, list, dict)) and not value and path not in allow):
        return [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += empty_paths(v, f"{path}.{k}", allow=allow)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += empty_paths(v, f"{path}[{i}]", allow=allow)
    return out
