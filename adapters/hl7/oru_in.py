"""ORU^R01 in: one RadiologyReport per OBR group, or an Hl7Error saying what to ACK.

Checks follow the v2 rules an engine expects from a receiver (spec §4, §6): MSH first,
supported type/event/version/processing id, required MSH-9/10/11/12, OBX-2/3/11, table
values for OBR-25, OBX-2 and OBX-11. Text comes from narrative OBX (TX, FT, ST; coded
CE/CWE as a fallback impression), sections from OBX-3 or from headings in the text.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field

from adapters.hl7.er7 import Segment, decode, msh18, normalise, payload, split_segments, valid_segment_id, wide_codec
from adapters.hl7.errors import Hl7Error
from adapters.hl7.escapes import unescape
from adapters.hl7.header import ACK_TYPES_0155, MshHeader, header_from_segment, read_msh
from adapters.hl7.tables import (
    CODED_TYPES,
    OBR_STATUS_TO_FHIR,
    OBSERVATION_STATUS_0085,
    OBX_STATUS_TO_FHIR,
    PROCESSING_IDS,
    RESULT_STATUS_0123,
    SUPPORTED_VERSIONS,
    TEXT_TYPES,
    VALUE_TYPE_0125,
    modality,
    section_of,
)
from adapters.sections import line_heading, split_sections
from models.types import RadiologyReport

_BATCH = frozenset({"MSH", "BHS", "BTS", "FHS", "FTS"})
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?(?:([+-])(\d{2})(\d{2}))?$")
_SAFE_CODE = re.compile(r"[^A-Za-z0-9_.\-]")
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


class OruMessage(BaseModel):
    """A parsed ORU^R01: its header, one report per OBR group, how it was decoded."""

    model_config = ConfigDict(frozen=True)

    header: MshHeader
    reports: list[RadiologyReport]
    charset_used: str = Field(description="Python codec that decoded the bytes (ascii, utf-8, cp1252, ...).")
    warnings: list[str] = Field(default_factory=list, description="Tolerated deviations; ids and positions only.")


def _code(value: str) -> str:
    """A code safe to quote in an error text (no free text, hence no PHI)."""
    return _SAFE_CODE.sub("?", value)[:12]


def parse_dtm(value: str) -> datetime | None:
    """HL7 DTM/TS (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]) -> datetime; naive when no offset is sent."""
    m = _DTM.match(value.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    try:
        tz = None
        if sign:
            delta = timedelta(hours=int(oh), minutes=int(om))
            tz = timezone(delta if sign == "+" else -delta)
        return datetime(
            int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0),
            int((frac or "0").ljust(6, "0")[:6]), tzinfo=tz,
        )
    except ValueError:
        return None


def _check_header(h: MshHeader) -> None:
    if not h.message_type:
        raise Hl7Error("AE", "101", "MSH^1^9", "required field missing (MSH-9 message type)")
    if not h.control_id:
        raise Hl7Error("AE", "101", "MSH^1^10", "required field missing (MSH-10 message control id)")
    if h.message_type.upper() != "ORU":
        raise Hl7Error("AR", "200", "MSH^1^9", f"unsupported message type {_code(h.message_type)}; this receiver takes only ORU R01 messages")
    if h.trigger.upper() != "R01":
        raise Hl7Error("AR", "201", "MSH^1^9^1^2", f"unsupported event code {_code(h.trigger)}; this receiver takes only ORU R01 messages")
    if not h.version:
        raise Hl7Error("AE", "101", "MSH^1^12", "required field missing (MSH-12 version id)")
    if h.version not in SUPPORTED_VERSIONS:
        raise Hl7Error("AR", "203", "MSH^1^12", f"unsupported version id {_code(h.version)}; supported 2.3 to 2.8.2")
    if not h.processing_id:
        raise Hl7Error("AE", "101", "MSH^1^11", "required field missing (MSH-11 processing id)")
    if h.processing_id.upper() not in PROCESSING_IDS:
        raise Hl7Error("AR", "202", "MSH^1^11", f"unsupported processing id {_code(h.processing_id)}")
    for n, value in ((15, h.accept_ack_type), (16, h.app_ack_type)):
        if value and value not in ACK_TYPES_0155:
            raise Hl7Error("AE", "103", f"MSH^1^{n}", f"MSH-{n} value {_code(value)} not in table 0155")


def _tokenise(text: str, msh: Segment) -> list[Segment]:
    counts: dict[str, int] = {}
    out: list[Segment] = []
    for index, (seg_id, fields) in enumerate(split_segments(text, msh.enc, msh.charset), start=1):
        if not valid_segment_id(seg_id):
            raise Hl7Error("AE", "100", "", f"segment sequence error (segment {index} has no valid segment id)")
        counts[seg_id] = counts.get(seg_id, 0) + 1
        if index > 1 and seg_id in _BATCH:
            raise Hl7Error(
                "AE", "100", f"{seg_id}^{counts[seg_id]}",
                f"segment sequence error ({seg_id} at segment {index}: one ORU^R01 per message; a batch starts with FHS or BHS)",
            )
        out.append(Segment(seg_id, counts[seg_id], fields, msh.enc, msh.charset, index))
    return out


class _Group:
    def __init__(self, obr: Segment, pid: Segment | None, orc: Segment | None = None) -> None:
        self.obr = obr
        self.pid = pid
        self.orc = orc  # the ORC just before this OBR (same ORDER_OBSERVATION group), if any
        self.obx: list[Segment] = []
        self.notes: list[Segment] = []  # NTE right after the OBR (order notes), before any OBX


def _groups(segments: list[Segment]) -> list[_Group]:
    groups: list[_Group] = []
    pid: Segment | None = None
    orc: Segment | None = None
    for seg in segments:
        if seg.id == "PID":
            pid = seg
        elif seg.id == "ORC":
            orc = seg
        elif seg.id == "OBR":
            groups.append(_Group(seg, pid, orc))
            orc = None
        elif seg.id == "OBX":
            if not groups:
                raise Hl7Error("AE", "100", f"OBX^{seg.seq}", "segment sequence error (OBX before any OBR)")
            groups[-1].obx.append(seg)
        elif seg.id == "NTE" and groups and not groups[-1].obx:
            # Order-level NTE. NTE before any OBR is about the patient, NTE after an OBX a note
            # on that observation (v2 ch.7; our own ORU out names the model there, after a text
            # OBX that may be empty): never report text.
            groups[-1].notes.append(seg)
    if not groups:
        raise Hl7Error("AE", "100", "OBR^1", "segment sequence error (required OBR segment missing)")
    return groups


def _check_obx(obx: Segment) -> None:
    loc = f"OBX^{obx.seq}"
    value_type = obx.get(2).strip().upper()
    if not obx.raw(3).strip():
        raise Hl7Error("AE", "101", f"{loc}^3", "required field missing (OBX-3 observation identifier)")
    status = obx.get(11).strip().upper()
    if not status:
        raise Hl7Error("AE", "101", f"{loc}^11", f"required field missing (OBX-11 of OBX {obx.seq})")
    if status not in OBSERVATION_STATUS_0085:
        raise Hl7Error("AE", "103", f"{loc}^11", f"OBX-11 value {_code(status)} not in table 0085")
    if obx.raw(5) and not value_type:
        raise Hl7Error("AE", "101", f"{loc}^2", "required field missing (OBX-2 value type for a valued OBX-5)")
    if value_type and value_type not in VALUE_TYPE_0125:
        raise Hl7Error("AE", "103", f"{loc}^2", f"OBX-2 value type {_code(value_type)} not in table 0125")


def _obx_text(obx: Segment) -> str:
    """OBX-5 as text: repetitions joined by line breaks; coded values give their text."""
    value_type = obx.get(2).strip().upper()
    lines: list[str] = []
    for rep in range(1, len(obx.reps(5)) + 1):
        if value_type in TEXT_TYPES:
            # TX/FT/ST are primitives: a raw '^' or '&' in them is text, not a delimiter.
            raw = obx.reps(5)[rep - 1]
            lines.append(obx_unescape(obx, raw))
        else:
            lines.append(obx.get(5, 2, rep=rep) or obx.get(5, 9, rep=rep) or obx.get(5, 1, rep=rep))
    return "\n".join(lines)


def _note_lines(group: _Group) -> list[str]:
    """NTE-3 (FT, repeating) of a group's NTE segments, one line per repetition; blank NTE = blank line."""
    lines: list[str] = []
    for nte in group.notes:
        reps = nte.reps(3) or [""]
        lines.extend(obx_unescape(nte, r) for r in reps)
    return lines


def obx_unescape(seg: Segment, raw: str) -> str:
    return unescape(raw, seg.enc, charset=seg.charset)


def _trim(lines: list[str]) -> str | None:
    text = "\n".join(lines)
    parts = text.split("\n")
    while parts and not parts[0].strip():
        parts.pop(0)
    while parts and not parts[-1].strip():
        parts.pop()
    return "\n".join(parts) if parts else None


def _status(group: _Group) -> str:
    obr_status = group.obr.get(25).strip().upper()
    statuses = [o.get(11).strip().upper() for o in group.obx]
    # A deleted (D), wrong (W) or not obtained (X) line next to valid ones does not make the
    # whole report entered-in-error or cancelled; only when every OBX says so. Then it does,
    # whatever OBR-25 says (F with every OBX W is how RIS retract a report sent for the wrong
    # patient): reading it as a final report without text would reject the retraction and
    # leave the wrong report standing. OBR-25 X (cancelled) stays cancelled.
    live = [code for code in statuses if code not in ("D", "W", "X")]
    if statuses and not live and obr_status != "X":
        return "entered-in-error" if any(code in ("D", "W") for code in statuses) else "cancelled"
    if obr_status:
        return OBR_STATUS_TO_FHIR[obr_status]
    if not statuses:
        return "unknown"
    for code in ("C", "A", "P"):
        if code in live:
            return OBX_STATUS_TO_FHIR[code]
    return OBX_STATUS_TO_FHIR.get(live[0], "unknown")


# PID-3 identifier types (CX-5, table 0203) in the order a patient id is taken from them: the
# medical record number (MR, and the "MRN" many feeds send), then the enterprise/internal ids;
# a national, licence, passport or provider number is never preferred over any other kind.
_ID_RANK = {"MR": 0, "MRN": 1, "PI": 2, "PT": 3, "PN": 4}
_NOT_A_PATIENT_KEY = frozenset({"SS", "SSN", "DL", "PPN", "NPI", "DN", "MCN", "MC", "MA", "HC", "AN", "VN"})


def _id_rank(kind: str) -> int:
    """Preference of a PID-3 identifier type as the patient id (lower first; ties keep PID-3 order)."""
    return _ID_RANK.get(kind, 9 if kind in _NOT_A_PATIENT_KEY else 5)


def _patient_id(pid: Segment | None) -> str | None:
    if pid is None:
        return None
    reps = range(1, len(pid.reps(3)) + 1)
    ids = [(pid.get(3, 1, rep=r).strip(), pid.get(3, 5, rep=r).strip().upper()) for r in reps]
    ids = [i for i in ids if i[0]]
    if ids:
        ranks = [(_id_rank(kind), n) for n, (_value, kind) in enumerate(ids)]
        return ids[min(ranks)[1]][0]
    return pid.get(2).strip() or pid.get(4).strip() or None


def _sections(group: _Group, warnings: list[str]) -> dict[str, str | None]:
    buckets: dict[str, list[str]] = {}
    coded_impression: list[str] = []
    for obx in group.obx:
        status = obx.get(11).strip().upper()
        if status in ("D", "W"):
            warnings.append(f"OBX {obx.seq}: status {status} (deleted / entered in error), text left out")
            continue
        value_type = obx.get(2).strip().upper()
        if not obx.raw(5):
            if value_type in TEXT_TYPES and buckets:
                # An empty TX line between lines of one section is a blank line of the report.
                name = _obx_section(obx) or "report"
                buckets.setdefault(name, []).append("")
            continue
        section = _obx_section(obx)
        if value_type in TEXT_TYPES:
            buckets.setdefault(section or "report", []).append(_obx_text(obx))
        elif value_type in CODED_TYPES and section:
            text = _obx_text(obx)
            if section == "impression":
                coded_impression.append(text)
            else:
                buckets.setdefault(section, []).append(text)
        elif section:
            warnings.append(f"OBX {obx.seq}: value type {_code(value_type)} is not report text; left out")
    if not group.obx:
        # No OBX at all: some RIS send the whole report as NTE comments right after the OBR.
        # Then those notes are the report, split by headings. Next to any OBX they stay
        # comments on the order (left out), as v2 ch.7 defines them (our own ORU out puts
        # the AI notice there, next to its result OBX).
        notes = _note_lines(group)
        if _trim(notes):
            buckets = {"report": notes}
            warnings.append(f"OBR {group.obr.seq}: no OBX; report text taken from its NTE")
    out: dict[str, str | None] = {k: _trim(v) for k, v in buckets.items()}
    # Unlabelled narrative (a whole report in one OBX, or OBX-3 naming no section) joins the
    # findings body, which is then cut at its IMPRESSION/ADDENDUM headings, if any.
    body = "\n".join(t for t in (out.get("findings"), out.pop("report", None)) if t)
    findings: str | None = None
    headed_text: dict[str, str | None] = {}
    if body:
        findings, headed_text = _split_body(body)
    impression = out.get("impression")
    if impression:
        split = split_sections(impression, default="impression")
        if split.headed and split.impression and not split.findings:
            impression = split.impression
            if split.addendum and not out.get("addendum"):
                out["addendum"] = split.addendum
    impression = impression or headed_text.get("impression") or _trim(coded_impression)
    addendum = out.get("addendum") or headed_text.get("addendum")
    return {
        "findings": findings,
        "impression": impression,
        "addendum": addendum,
        "history": out.get("history"),
        "technique": out.get("technique"),
        "comparison": out.get("comparison"),
    }


def _split_body(text: str) -> tuple[str | None, dict[str, str | None]]:
    """Split an unlabelled report body at its headings: (findings, {impression, addendum}).

    A heading opens its section wherever it stands, so an addendum written at the top of a
    report ends at the FINDINGS heading after it and the findings are kept. EXAM heading lines
    before the first section heading are dropped (OBR-4 names the procedure); after one, such a
    line ("Study: limited by motion") is text. History/Technique/Comparison lines stay in the
    findings, as in real report bodies; blank lines before a FINDINGS heading go. Line breaks
    are kept as sent (a \\X0D\\ stays a CR) and each one ends a line, a heading's too.
    """
    parts = _LINE_BREAK.split(text)
    pairs = list(zip(parts[0::2], [*parts[1::2], ""], strict=True))  # (line, the break after it)
    buckets: dict[str, list[tuple[str, str]]] = {"findings": [], "impression": [], "addendum": []}
    current = "findings"
    headed = False
    for line, brk in pairs:
        section, rest = line_heading(line)
        if section == "procedure" and not headed:
            continue
        if section in buckets:
            headed = True
            if section == "findings" and current == "findings":
                buckets["findings"] = [p for p in buckets["findings"] if p[0].strip()]
            if section != current:
                _end_at_heading(buckets[current])
            current = section
            if rest:
                buckets[current].append((rest, brk))
            continue
        buckets[current].append((line, brk))
    out = {name: _trim(["".join(line + brk for line, brk in kept)]) for name, kept in buckets.items()}
    return out["findings"], {"impression": out["impression"], "addendum": out["addendum"]}


def _end_at_heading(pairs: list[tuple[str, str]]) -> None:
    """A section that a heading ends: its blank lines before the heading, and the break after
    its last line, separate it from the next one; they are not its text."""
    while pairs and not pairs[-1][0].strip():
        pairs.pop()
    if pairs:
        pairs[-1] = (pairs[-1][0], "")


def _obx_section(obx: Segment) -> str | None:
    comps = obx.parts(3)
    code_subs = [obx_unescape(obx, s) for s in comps[0]] if comps else []
    return section_of(code_subs, obx.get(3, 2), obx.get(3, 4))


def _report(group: _Group, header: MshHeader, source_hash: str, warnings: list[str]) -> RadiologyReport | None:
    obr = group.obr
    for obx in group.obx:
        _check_obx(obx)
    obr_status = obr.get(25).strip().upper()
    if obr_status and obr_status not in RESULT_STATUS_0123:
        raise Hl7Error("AE", "103", f"OBR^{obr.seq}^25", f"OBR-25 value {_code(obr_status)} not in table 0123")
    # OBR-3/OBR-2 equal ORC-3/ORC-2, and the standard lets a sender value them in the ORC only
    # (v2.5 4.5.1.2-3: present in the ORC or in the OBR); the filler number is the accession.
    orc = group.orc
    accession = (obr.get(3).strip() or (orc.get(3).strip() if orc else "") or obr.get(2).strip()
                 or (orc.get(2).strip() if orc else "") or None)
    set_id = obr.get(1).strip() or str(obr.seq)
    if accession is None:
        warnings.append(f"OBR {obr.seq}: no OBR-3/ORC-3 or OBR-2/ORC-2; report id made from MSH-10 and set id")
    status = _status(group)
    sections = _sections(group, warnings)
    if not any(sections.values()) and status not in ("cancelled", "entered-in-error"):
        # A cancelled or retracted (all OBX D/W) report carries no text and is still kept.
        warnings.append(f"OBR {obr.seq}: no report text under this OBR; skipped")
        return None
    procedure = obr.get(4, 2).strip() or obr.get(4, 5).strip() or None
    effective_raw, issued_raw = obr.get(7).strip(), obr.get(22).strip()
    effective, issued = parse_dtm(effective_raw), parse_dtm(issued_raw)
    for n, raw, parsed in ((7, effective_raw, effective), (22, issued_raw, issued)):
        if raw and parsed is None:
            warnings.append(f"OBR {obr.seq}: OBR-{n} is not a valid date/time; left out")
    return RadiologyReport(
        report_id=accession or f"{header.control_id}-{set_id}",
        patient_id=_patient_id(group.pid),
        accession=accession,
        modality=modality(obr.get(24), procedure),
        procedure=procedure,
        procedure_code=obr.get(4, 1).strip() or None,
        status=status,  # type: ignore[arg-type]
        effective=effective,
        issued=issued,
        source_format="hl7v2",
        source_hash=source_hash,
        **sections,
    )


def parse_oru(raw: bytes) -> OruMessage:
    """Parse one ORU^R01 (framed or not, CR/LF/CRLF). Raises Hl7Error for anything not acceptable."""
    source_hash = hashlib.sha256(raw).hexdigest()
    data = normalise(raw)
    if not data:
        raise Hl7Error("AE", "100", "", "segment sequence error (empty message)")
    text, codec, warnings = decode(data, msh18(data), wide_codec(raw))
    msh = read_msh(text, codec)
    header = header_from_segment(msh)
    try:
        _check_header(header)
        if not payload(raw).rstrip(b"\x00\x1c\x0b \t").endswith((b"\r", b"\n")):
            warnings.append("message does not end with a segment terminator")
        groups = _groups(_tokenise(text, msh))
        reports = [r for g in groups if (r := _report(g, header, source_hash, warnings)) is not None]
        if not reports:
            kinds = sorted({t for g in groups for o in g.obx if (t := o.get(2).strip().upper()) and o.raw(5)
                            and t not in TEXT_TYPES and t not in CODED_TYPES})
            why = f"; OBX value types {', '.join(_code(k) for k in kinds)} are not report text" if kinds else ""
            raise Hl7Error("AE", "101", f"OBR^{groups[0].obr.seq}", f"required field missing (no report text in any OBX{why})")
    except Hl7Error as exc:
        exc.header = header
        raise
    seen: set[str] = set()
    for r in reports:
        if r.report_id in seen:
            warnings.append("several OBR groups share one accession; storage keeps the last")
        seen.add(r.report_id)
    return OruMessage(header=header, reports=reports, charset_used=codec, warnings=warnings)
