"""Plain-text reports: a report saved from a RIS screen, a dictation export, a dataset row.

No standard wraps them, so all we know is what the text says: sections come from its
headings (adapters/sections.py) and the modality from the procedure line. The report id is
derived from the content hash, so the same text analysed twice is the same report and no
file name (which may carry a patient's name) enters the store or the logs.
"""

from __future__ import annotations

import hashlib

from adapters.hl7.tables import modality
from adapters.sections import report_fields
from models.types import RadiologyReport

__all__ = ["TextInputError", "report_from_text"]


class TextInputError(ValueError):
    """The bytes are not a readable report text."""


def report_from_text(raw: bytes | str, *, report_id: str | None = None) -> RadiologyReport:
    """One RadiologyReport from UTF-8 report text (a leading byte order mark is allowed)."""
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TextInputError(f"report text is not UTF-8 (byte {exc.start})") from exc
    if "\x00" in text:
        raise TextInputError("report text contains NUL bytes (a binary file?)")
    if not text.strip():
        raise TextInputError("report text is empty")
    digest = hashlib.sha256(data).hexdigest()
    fields = report_fields(text)
    if not (fields.get("findings") or fields.get("impression")):
        raise TextInputError("report text has no findings or impression")
    return RadiologyReport(
        report_id=report_id or f"text-{digest[:16]}",
        modality=modality("", fields.get("procedure")),
        source_format="text",
        source_hash=digest,
        **fields,
    )
