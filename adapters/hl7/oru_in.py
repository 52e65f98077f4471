"""ORU^R01 in: one RadiologyReport per OBR group, or an Hl7Error saying what to ACK.

Checks follow the v2 rules an engine expects from a receiver (spec §4, §6): MSH first,
supported type/event/version/processing id, required MSH-9/10/11/12, OBX-2/3/11, table
values for OBR-25, OBX-2 and OBX-11. Text comes from narrative OBX (TX, FT, ST; coded
CE/CWE as a fallback impression; an ED text document when no narrative OBX is sent),
sections from OBX-3 or from headings in the text.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pydantic import BaseModel, ConfigDict, Field

from adapters.fhir.codes import BIRADS_SNOMED
from adapters.fhir.inbound import html_to_text, looks_binary, rtf_to_text
from adapters.hl7.er7 import Segment, decode, msh18, normalise, payload, split_segments, valid_segment_id, wide_codec
from adapters.hl7.errors import Hl7Error
from adapters.hl7.escapes import unescape
from adapters.hl7.header import ACK_TYPES_0155, MshHeader, OruHeader, header_from_segment, read_msh
from adapters.hl7.tables import (
    CODED_TYPES,
    ED_ENCODINGS_0299,
    OBR_STATUS_TO_FHIR,
    OBSERVATION_STATUS_0085,
    OBX_STATUS_TO_FHIR,
    PROCESSING_IDS,
    RESULT_STATUS_0123,
    SUPPORTED_VERSIONS,
    TEXT_TYPES,
    VALUE_TYPE_0125,
    ed_text_kind,
    modality,
    section_of,
)
from adapters.sections import END_OF_ADDENDUM, line_heading, split_sections
from models.types import RadiologyReport

_BATCH = frozenset({"MSH", "BHS", "BTS", "FHS", "FTS"})
_DTM = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?(?:([+-])(\d{2})(\d{2}))?$")
_SAFE_CODE = re.compile(r"[^A-Za-z0-9_.\-]")
_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


class OruMessage(BaseModel):
    """A parsed ORU^R01: its header, one report per report key (the OBR groups of one accession
    are one report; none for a notice whose every OBR-25 says no results yet), how it was decoded."""

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
    if not h.trigger:
        # MSG-2 (trigger event) is a required component of MSH-9 in every v2 version.
        raise Hl7Error("AE", "101", "MSH^1^9^1^2", "required field missing (MSH-9.2 trigger event)")
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


def _check_msh7(h: MshHeader, warnings: list[str]) -> None:
    """MSH-7 (date/time of message): optional in v2.3 and v2.3.1, required from v2.4 on (the MSH
    tables of each version, as hl7apy carries them). Missing where required: AE 101 at MSH^1^7,
    as for the other required MSH fields; missing where optional: read, and said."""
    if h.timestamp.strip():
        if parse_dtm(h.timestamp) is None:
            warnings.append("MSH-7 is not a valid date/time")
        return
    if not h.version_tuple or h.version_tuple >= (2, 4):
        raise Hl7Error("AE", "101", "MSH^1^7",
                       f"required field missing (MSH-7 date/time of message, required in v{_code(h.version)})")
    warnings.append(f"MSH-7 (date/time of message) empty; optional in v{_code(h.version)}, read without it")


def _tokenise(text: str, msh: Segment) -> list[Segment]:
    counts: dict[str, int] = {}
    out: list[Segment] = []
    for index, (seg_id, fields) in enumerate(split_segments(text, msh.enc, msh.charset), start=1):
        if not valid_segment_id(seg_id):
            raise _no_segment_id(index, out[-1] if out else None, fields)
        counts[seg_id] = counts.get(seg_id, 0) + 1
        if index > 1 and seg_id in _BATCH:
            raise Hl7Error(
                "AE", "100", f"{seg_id}^{counts[seg_id]}",
                f"segment sequence error ({seg_id} at segment {index}: one ORU^R01 per message; a batch starts with FHS or BHS)",
            )
        out.append(Segment(seg_id, counts[seg_id], fields, msh.enc, msh.charset, index))
    return out


def _no_segment_id(index: int, before: Segment | None, fields: list[str]) -> Hl7Error:
    """AE 100 for a line with no valid segment id, located where the sender can find it.

    A line that is not shaped as a segment (no three letters or digits then the field separator)
    is the rest of the segment before it, cut by a raw CR in its last field (report text pasted
    with its line ends, not escaped as \\.br\\ or \\X0D\\): ERR-2 names that segment and field
    (OBX^2^5). A segment-shaped line with a bad id ('obx|1|...') is a segment of its own: its id
    is no location. The text says the line's position in the message either way.
    """
    where, after = "", ""
    head = fields[0] if fields else ""
    # A segment id then some other punctuation ("PID!1!!B-6"): a segment written with another field
    # separator, a segment of its own (no location), not the rest of the one before.
    shaped = (len(fields) > 1 and len(head) == 3 and head.isalnum() and head.isascii()) \
        or bool(re.match(r"[A-Z][A-Z0-9]{2}[^\w\s]", head))
    if before is not None and not shaped:
        last = len(before.fields) - 1
        where = f"{before.id}^{before.seq}" + (f"^{last}" if last > 0 else "")
        after = f", right after {before.id} {before.seq}: a raw line break in {before.id}-{last}?"
    return Hl7Error("AE", "100", where,
                    f"segment sequence error (segment {index} of the message has no valid segment id{after}; "
                    "escape line breaks in text as \\.br\\)")


class _Group:
    def __init__(self, obr: Segment, pid: Segment | None, orc: Segment | None = None) -> None:
        self.obr = obr
        self.pid = pid
        self.orc = orc  # the ORC before this OBR (ORDER_OBSERVATION), or right after it (_trailing_orc)
        self.obx: list[Segment] = []
        self.notes: list[Segment] = []  # NTE right after the OBR (order notes), before any OBX
        self.obx_notes: dict[int, int] = {}  # OBX seq -> number of NTE after it (notes on that observation)

    @property
    def is_child(self) -> bool:
        """An OBR that names a parent: OBR-29 (parent order, EIP) or OBR-26 (parent result, PRL)."""
        blank = self.obr.enc.component + self.obr.enc.subcomponent + " "
        return bool(self.obr.raw(29).strip(blank) or self.obr.raw(26).strip(blank))


def _heads_next_obr(segments: list[Segment], index: int, after_obr: bool) -> bool:
    """Whether the ORC at segments[index] comes before an OBR of its own: an OBR follows it
    before any OBX or ORC, and before any PID once an OBR was read (ORDER_OBSERVATION sits in
    its patient's PATIENT_RESULT, after the PID: an ORC before a PID is no order of that patient)."""
    for seg in segments[index + 1:]:
        if seg.id == "OBR":
            return True
        if seg.id in ("OBX", "ORC") or (seg.id == "PID" and after_obr):
            return False
    return False


def _groups(segments: list[Segment], warnings: list[str]) -> list[_Group]:
    groups: list[_Group] = []
    pid: Segment | None = None
    orc: Segment | None = None
    heads_nothing: Segment | None = None  # a PID no OBR has followed yet
    for index, seg in enumerate(segments):
        if seg.id == "PID":
            if heads_nothing is not None:
                raise _pid_out_of_place(heads_nothing)
            pid = heads_nothing = seg
        elif seg.id == "ORC":
            if _heads_next_obr(segments, index, bool(groups)):
                orc = seg  # ORC then OBR: the ORDER_OBSERVATION order of v2, kept as it always was
            else:
                _trailing_orc(seg, groups, heads_nothing is None, warnings)
        elif seg.id == "OBR":
            groups.append(_Group(seg, pid, orc))
            orc = heads_nothing = None
        elif seg.id == "OBX":
            if not groups:
                raise Hl7Error("AE", "100", f"OBX^{seg.seq}", "segment sequence error (OBX before any OBR)")
            groups[-1].obx.append(seg)
        elif seg.id == "NTE" and groups and not groups[-1].obx:
            # Order-level NTE. NTE before any OBR is about the patient, NTE after an OBX a note
            # on that observation (v2 ch.7; our own ORU out names the model there, after a text
            # OBX that may be empty): never report text.
            groups[-1].notes.append(seg)
        elif seg.id == "NTE" and groups:
            # The OBSERVATION group is OBX [{NTE}]: a comment on the OBX before it, counted so
            # that leaving it out of the report text is said, never silent.
            last = groups[-1].obx[-1].seq
            groups[-1].obx_notes[last] = groups[-1].obx_notes.get(last, 0) + 1
        elif seg.id == "DSC" and seg.get(1).strip():
            # DSC-1 valued: the rest of this message follows in a continuation message (v2
            # 2.10.2). Read alone, the report would be taken as complete with its end missing.
            raise Hl7Error("AE", "100", f"DSC^{seg.seq}^1",
                           "message continuation (DSC-1) is not supported; send the whole report in one message")
    if not groups:
        raise Hl7Error("AE", "100", "OBR^1", "segment sequence error (required OBR segment missing)")
    if heads_nothing is not None:
        raise _pid_out_of_place(heads_nothing)
    return groups


def _trailing_orc(orc: Segment, groups: list[_Group], same_patient: bool, warnings: list[str]) -> None:
    """An ORC that heads no OBR (see _heads_next_obr): give it to the OBR right before it, or to none.

    v2 puts ORC before its OBR, but some engines send PID, OBR, ORC, OBX: then the ORC, right
    after its OBR and before that OBR's OBX, is that group's order (its ORC-2/ORC-3 are the
    order numbers the OBR may leave empty). An ORC after the group's OBX, or after a PID that
    came after the OBR, is the order of no OBR we can tell: it is left out, never held for a
    later OBR, whose report would then be keyed on another exam's accession.
    """
    group = groups[-1] if groups else None
    if group is None or group.obx or not same_patient:
        warnings.append(f"ORC {orc.seq}: comes before no OBR and right after none; not read")
    elif group.orc is not None:
        warnings.append(f"ORC {orc.seq}: second ORC of OBR {group.obr.seq} (one came before it); not read")
    else:
        group.orc = orc
        warnings.append(f"ORC {orc.seq}: comes after OBR {group.obr.seq} (ORC goes before its OBR); read as its order")


def _pid_out_of_place(pid: Segment) -> Hl7Error:
    """A PID that no OBR follows (after the last OBR, between an OBR and its OBX, or twice in a row).

    In ORU_R01 a PID heads the results after it (PATIENT_RESULT: PID ... OBR ...). One with no OBR
    after it names the patient of no result; read past, the reports before it would go out with
    no patient or another one's, so the message is answered AE and the sender fixes the order.
    """
    return Hl7Error("AE", "100", f"PID^{pid.seq}",
                    f"segment sequence error (PID {pid.seq} is followed by no OBR; a patient's PID comes before its OBR)")


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


def _coded_text(seg: Segment, n: int, comp: int, warnings: list[str] | None, rep: int = 1) -> str:
    """A text component of a CE/CWE (CE-2/CE-5 text, CWE-9 original text), read whole.

    Those components are ST, a primitive with no subcomponents, so a raw '&' in them can only be
    text the sender did not escape as \\T\\ ("CT CHEST&ABD", "Mass&calcifications"): read up to
    the first '&' it lost the rest. It is read as text, and that is said.
    """
    comps = seg.parts(n, rep)
    if not 0 < comp <= len(comps):
        return ""
    if len(comps[comp - 1]) > 1 and warnings is not None:
        warning = (f"{seg.id} {seg.seq}: {seg.id}-{n}.{comp} holds an unescaped subcomponent separator "
                   "(a text component has no subcomponents); read as text")
        if warning not in warnings:
            warnings.append(warning)
    return seg.text(n, comp, rep).strip()


def _obx_text(obx: Segment, warnings: list[str] | None = None) -> str:
    """OBX-5 as text: repetitions joined by line breaks; coded values give their text."""
    value_type = obx.get(2).strip().upper()
    lines: list[str] = []
    # OBX-5 is split into its repetitions once: a report sent one line per repetition may hold
    # thousands of them, and splitting the field again for each one made reading it quadratic
    # (a 20,000-line report took over a minute, past any sender's ACK timeout).
    for raw_rep in obx.reps(5):
        if value_type in TEXT_TYPES:
            # TX/FT/ST are primitives: a raw '^' or '&' in them is text, not a delimiter.
            # A vertical tab is the manual line break of word processors (Word's Shift+Enter) that
            # dictation text pasted into a RIS carries: a line break, not a control byte for the models.
            line = obx_unescape(obx, raw_rep).replace("\x0b", "\n")
            if value_type == "FT" and line.endswith("\n"):
                # An FT line that ends in \.br\ ends its own output line; the next repetition or
                # OBX is the next line, not one after a blank line (two breaks leave one blank line).
                line = line[:-1]
            lines.append(line)
        else:
            comps = raw_rep.split(obx.enc.component)
            code, system = (obx_unescape(obx, comps[n].split(obx.enc.subcomponent)[0]).strip()
                            if n < len(comps) else "" for n in (0, 2))
            # CE-2/CWE-2 text and CWE-9 original text are ST: a raw '&' there is text (_coded_text).
            text, original = (obx_unescape(obx, comps[n]).strip() if n < len(comps) else "" for n in (1, 8))
            for n in (1, 8):
                if n < len(comps) and obx.enc.subcomponent in comps[n] and warnings is not None:
                    warning = (f"OBX {obx.seq}: OBX-5.{n + 1} holds an unescaped subcomponent separator "
                               "(a text component has no subcomponents); read as text")
                    if warning not in warnings:
                        warnings.append(warning)
            lines.append(text or original or _coded_display(code, system))
    return "\n".join(lines)


# SNOMED CT as HL7 table 0396 and senders name it in CE-3/CWE-3 (with its OID).
_SNOMED_SYSTEMS = frozenset({"SCT", "SNM", "SNM3", "SNOMED", "SNOMED-CT", "SNOMEDCT", "2.16.840.1.113883.6.96"})
_SNOMED_DISPLAY = dict(BIRADS_SNOMED.values())


def _coded_display(code: str, system: str) -> str:
    """Text of a coded value sent with its code only (CE-2/CWE-9 empty): the display of a SNOMED CT
    BI-RADS assessment code we know (spec §2.3), so '397144001^^SCT' reads as the category it codes
    rather than a bare number; any other code as sent."""
    if system.upper() in _SNOMED_SYSTEMS and code in _SNOMED_DISPLAY:
        return _SNOMED_DISPLAY[code]
    return code


@dataclass(frozen=True)
class _EdText:
    """The text document an ED OBX-5 holds: its kind (plain, rtf, html) and text, or why it
    could not be read (`text` None); never the text itself in `why` (it may carry PHI)."""

    kind: str
    text: str | None
    why: str = ""


_ED_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
            (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def _ed_document(obx: Segment) -> _EdText | None:
    """OBX-5 of an ED OBX as a text document, or None when it is not one (a PDF, an image, ...).

    ED is source application ^ type of data (table 0191) ^ data subtype (table 0291) ^
    encoding (table 0299) ^ data. Some RIS send the report only this way (`^TEXT^PLAIN^Base64^...`,
    `^TEXT^RTF^Base64^...`). Text repetitions of OBX-5 are read in order, one line break between;
    a repetition that is no text document (a PDF beside the text) is left out, as a PDF OBX is.
    """
    kinds: list[tuple[int, str]] = []
    for rep in range(1, len(obx.reps(5)) + 1):
        kind = ed_text_kind(obx.get(5, 2, rep=rep), obx.get(5, 3, rep=rep))
        if kind is not None:
            kinds.append((rep, kind))
    if not kinds:
        return None
    texts: list[str] = []
    for rep, kind in kinds:
        text, why = _ed_rep_text(obx, rep, kind)
        if text is None:
            return _EdText(kinds[0][1], None, why)
        texts.append(text)
    return _EdText(kinds[0][1], "\n".join(texts))


def _ed_rep_text(obx: Segment, rep: int, kind: str) -> tuple[str | None, str]:
    """(text, '') of one ED repetition, or (None, why it is not readable text)."""
    comp = obx.enc.component
    pieces = obx.reps(5)[rep - 1].split(comp)
    # The data is the last component: a '^' the sender left unescaped in it is data, not a delimiter.
    data = obx_unescape(obx, comp.join(pieces[4:]))
    encoding = obx.get(5, 4, rep=rep).strip().upper() or "A"  # ED-4 empty: the data is sent as text
    if encoding not in ED_ENCODINGS_0299:
        return None, f"has encoding {_code(encoding)}, not in table 0299 (A, Base64, Hex)"
    if encoding == "A":
        text = data
    else:
        raw = _ed_bytes(data, encoding)
        if raw is None:
            return None, f"is not valid {'Base64' if encoding == 'BASE64' else 'Hex'}"
        if kind == "rtf":
            text = raw.decode("latin-1")  # RTF is 7-bit: its \ansicpg and \u escapes give the characters
        elif looks_binary(raw):
            return None, "is binary content (a PDF, an image or a word-processor file), not text"
        else:
            text = _ed_decode(raw, obx.charset)
    if kind == "rtf":
        if not text.lstrip().startswith("{\\rtf"):
            return None, "is not RTF (no {\\rtf header)"
        text = rtf_to_text(text)
    elif kind == "html":
        text = html_to_text(text)
    # A decoded document ends its lines with CR LF or CR as the system that wrote it did.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0b", "\n"), ""


def _ed_bytes(data: str, encoding: str) -> bytes | None:
    """ED-5 Base64 or Hex data as bytes; None when it does not decode.

    Blanks and line breaks (MIME Base64 wraps at 76 characters; an engine may escape the
    breaks as \\X0D0A\\) are not data. Missing '=' padding is tolerated, other faults are not.
    """
    cleaned = "".join(data.split())
    try:
        if encoding == "HEX":
            return bytes.fromhex(cleaned)
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _ed_decode(raw: bytes, message_codec: str) -> str:
    """Bytes of a plain or HTML text document as text: the charset its byte order mark names,
    else UTF-8, else the message's own charset (MSH-18), else Windows-1252, which every byte decodes."""
    for bom, codec in _ED_BOMS:
        if raw.startswith(bom):
            return raw.decode(codec, errors="replace")
    for codec in ("utf-8", message_codec):
        try:
            return raw.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return raw.decode("cp1252", errors="replace")


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


# ORC-1 (table 0119) codes a filler sends for an order that was cancelled or discontinued.
_CANCELLED_ORDER_0119 = frozenset({"OC", "CR", "CA", "OD", "DC", "DR"})
# OBR-25 (table 0123) for an order with no results yet: received, in progress, scheduled.
_NO_RESULTS_YET_0123 = frozenset({"O", "I", "S"})


def _awaiting_results(group: _Group) -> bool:
    """An OBR that says its results do not exist yet (OBR-25 O/I/S) and carries no OBX: a status
    notice, valid ORU_R01 (the OBSERVATION group is optional), with no report to read."""
    return not group.obx and group.obr.get(25).strip().upper() in _NO_RESULTS_YET_0123


def _status(group: _Group) -> str:
    obr_status = group.obr.get(25).strip().upper()
    orc_control = group.orc.get(1).strip().upper() if group.orc else ""
    if not obr_status and orc_control in _CANCELLED_ORDER_0119 and not group.obx:
        return "cancelled"  # ORC-1 says the order was cancelled; OBR-25 left empty
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


def _checked_patient_id(pid: Segment | None, warnings: list[str]) -> str | None:
    """The patient id of a PID; Hl7Error (AE 101 at PID-3) when a PID names no patient at all.

    PID-3 is required from v2.3 on. PID-2 (and PID-4), where v2.1/2.2 engines put the id, is
    still read when PID-3 is empty, with a warning. With no PID segment (the PATIENT group is
    optional in ORU_R01) the report has no patient id.
    """
    if pid is None:
        return None
    found = _patient_id(pid)
    if found is None:
        raise Hl7Error("AE", "101", f"PID^{pid.seq}^3", "required field missing (PID-3 patient identifier list)")
    if not any(pid.get(3, 1, rep=r).strip() for r in range(1, len(pid.reps(3)) + 1)):
        # One PID heads every OBR group of its patient: said once for that PID, not once per group.
        warning = f"PID {pid.seq}: PID-3 empty; patient id taken from PID-2/PID-4"
        if warning not in warnings:
            warnings.append(warning)
    return found


def _sections(group: _Group, warnings: list[str], *, lead: str = "findings") -> dict[str, str | None]:
    """Report sections of one OBR group. `lead` is where unlabelled text before any heading goes:
    the findings, or the addendum for an addendum OBR (see _is_addendum_of)."""
    buckets: dict[str, list[str]] = {}
    coded_impression: list[str] = []
    coded_seqs: list[int] = []
    # ED text documents by section, then kind: used only when no narrative OBX is sent (the same
    # report as a TX text and as a text/RTF document beside it would otherwise be read twice).
    documents: dict[str, dict[str, list[tuple[int, str]]]] = {}
    narrative = any(o.get(2).strip().upper() in TEXT_TYPES and o.raw(5).strip()
                    and o.get(11).strip().upper() not in ("D", "W") for o in group.obx)
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
            text = _obx_text(obx, warnings)
            if section == "impression":
                coded_impression.append(text)
                coded_seqs.append(obx.seq)
            else:
                buckets.setdefault(section, []).append(text)
        elif value_type == "ED" and (doc := _ed_document(obx)) is not None:
            if narrative:
                warnings.append(f"OBX {obx.seq}: ED text document beside narrative OBX text; the narrative is used")
            elif doc.text is None:
                warnings.append(f"OBX {obx.seq}: ED data declared as text {doc.why}; left out")
            elif not doc.text.strip():
                warnings.append(f"OBX {obx.seq}: ED text document is empty")
            else:
                documents.setdefault(section or "report", {}).setdefault(doc.kind, []).append((obx.seq, doc.text))
        elif section:
            warnings.append(f"OBX {obx.seq}: value type {_code(value_type)} is not report text; left out")
        else:
            warnings.append(f"OBX {obx.seq}: {_code(value_type)} value names no report section; not read as report text")
    for name, kinds in documents.items():
        _take_document(name, kinds, buckets, warnings)
    for seq, count in group.obx_notes.items():
        warnings.append(f"OBX {seq}: {count} comment segment(s) after it annotate that observation; not read as report text")
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
    labelled_findings, whole = out.get("findings"), out.pop("report", None)
    findings: str | None = None
    headed_text: dict[str, str | None] = {}
    body = "\n".join(t for t in (labelled_findings, whole) if t)
    if labelled_findings and whole:
        # A findings OBX and a whole-report OBX that holds the same findings (the report, then its
        # sections coded): joined, every finding would be read twice. One holding the other is read alone.
        kept = _one_text(whole, labelled_findings, "findings", [])
        if kept != f"{labelled_findings}\n{whole}":
            body = kept or body
            warnings.append("findings OBX text is also in the whole-report OBX; read once")
    if body:
        findings, headed_text = _split_body(body, lead)
    impression = out.get("impression")
    if impression:
        split = split_sections(impression, default="impression")
        if split.headed and split.impression and not split.findings:
            impression = split.impression
            if split.addendum:
                out["addendum"] = _one_text(out.get("addendum"), split.addendum, "addendum", warnings)
    impression = _one_text(impression, headed_text.get("impression"), "impression", warnings)
    if impression and coded_seqs:
        warnings.append(f"OBX {', '.join(map(str, coded_seqs))}: coded impression beside a text impression; the text is used")
    impression = impression or _trim(coded_impression)
    addendum = _one_text(out.get("addendum"), headed_text.get("addendum"), "addendum", warnings)
    return {
        "findings": findings,
        "impression": impression,
        "addendum": addendum,
        "history": out.get("history"),
        "technique": out.get("technique"),
        "comparison": out.get("comparison"),
    }


def _one_text(labelled: str | None, headed: str | None, section: str, warnings: list[str]) -> str | None:
    """One section's text from an OBX labelled as that section and from a heading inside other text.

    Feeds that send the whole report in one OBX and the impression again in its own OBX say it
    twice: the fuller of the two is kept when one holds the other (blanks and case aside). When
    they differ, both are kept, the headed one first (the whole-report OBX comes before the section
    OBX in such feeds), and that is said: keeping only one would silently drop what the other says
    (a follow-up recommendation, a called result).
    """
    if not labelled or not headed:
        return labelled or headed
    a, b = (" ".join(t.split()).casefold() for t in (labelled, headed))
    if b in a:
        return labelled
    if a in b:
        return headed
    warnings.append(f"{section} text under a heading differs from the OBX labelled {section}; both kept")
    return f"{headed}\n{labelled}"


def _take_document(section: str, kinds: dict[str, list[tuple[int, str]]], buckets: dict[str, list[str]],
                   warnings: list[str]) -> None:
    """Put one section's ED text documents in its bucket: those of one kind, in message order.

    A RIS that sends the report as plain text and as RTF (or HTML) sends one report twice; the
    simplest faithful rendition is read, as for FHIR presentedForm, and the others are said.
    """
    kind = next(k for k in ("plain", "html", "rtf") if k in kinds)
    buckets.setdefault(section, []).extend(text for _seq, text in kinds[kind])
    others = sorted(seq for k, docs in kinds.items() if k != kind for seq, _text in docs)
    if others:
        warnings.append(f"OBX {', '.join(map(str, others))}: another rendition of the ED {kind} text; left out")


def _split_body(text: str, lead: str = "findings") -> tuple[str | None, dict[str, str | None]]:
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
    current = lead
    headed = False
    for line, brk in pairs:
        section, rest = line_heading(line)
        if section == END_OF_ADDENDUM:
            # The addendum's closing line: the text after it is the body it was added to.
            if current == "addendum":
                _end_at_heading(buckets[current])
                current = "findings"
            continue
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


def _accession(group: _Group) -> str:
    """The group's own order number: OBR-3/ORC-3 (filler, the accession), else OBR-2/ORC-2 (placer),
    else the first component of OBR-20 or OBR-18 (filler/placer field 1, where some RIS put the accession).

    OBR-3/OBR-2 equal ORC-3/ORC-2, and the standard lets a sender value them in the ORC only
    (v2.5 4.5.1.2-3: present in the ORC or in the OBR).
    """
    obr, orc = group.obr, group.orc
    return (obr.get(3).strip() or (orc.get(3).strip() if orc else "") or obr.get(2).strip()
            or (orc.get(2).strip() if orc else "") or obr.get(20, 1).strip() or obr.get(18, 1).strip())


def _parent_ids(obr: Segment) -> tuple[str, str]:
    """(placer, filler) order number of the parent order named in OBR-29 (EIP), '' when absent."""
    return obr.get(29, 1).strip(), obr.get(29, 2).strip()


def _is_addendum_of(group: _Group, groups: list[_Group]) -> _Group | None:
    """The parent group a child OBR adds to, or None when it is a report of its own.

    A child (OBR-29 parent order or OBR-26 parent result) with no order number of its own, or
    its parent's, adds text to the parent's report: an addendum. A child with an accession of
    its own is another exam (a linked exam), reported on its own. The parent is the earlier group
    whose OBR-3/OBR-2 OBR-29 names, else (OBR-26 only) the one holding the OBX OBR-26.1 names,
    else the group before it. Returns `group` itself for an addendum whose parent is not in this
    message (it has no number of its own: it is keyed on OBR-29's).
    """
    if not group.is_child:
        return None
    own = _accession(group)
    placer, filler = _parent_ids(group.obr)
    earlier = groups[: groups.index(group)]
    parent: _Group | None = None
    if placer or filler:
        parent = next((g for g in earlier if (filler and _accession(g) == filler)
                       or (placer and placer in (g.obr.get(2).strip(), g.orc.get(2).strip() if g.orc else ""))), None)
    else:
        code = group.obr.get(26, 1, 1).strip()
        parent = next((g for g in reversed(earlier) if code and any(o.get(3, 1).strip() == code for o in g.obx)),
                      earlier[-1] if earlier else None)
    if parent is None:
        # Parent sent earlier: an addendum under its key only when the child has no number of its
        # own. One that repeats its own number in OBR-29 (some RIS do) is an ordinary report.
        return group if (not own and (placer or filler)) else None
    return parent if (not own or own == _accession(parent)) else None


def _report(group: _Group, header: MshHeader, source_hash: str, warnings: list[str], *,
            addendum: bool = False) -> RadiologyReport | None:
    obr = group.obr
    for obx in group.obx:
        _check_obx(obx)
    obr_status = obr.get(25).strip().upper()
    if obr_status and obr_status not in RESULT_STATUS_0123:
        raise Hl7Error("AE", "103", f"OBR^{obr.seq}^25", f"OBR-25 value {_code(obr_status)} not in table 0123")
    if not obr.raw(4).strip(obr.enc.component + obr.enc.subcomponent + obr.enc.repetition + " "):
        # OBR-4 (universal service identifier) is required in every version v2.3 to v2.8.2.
        raise Hl7Error("AE", "101", f"OBR^{obr.seq}^4",
                       f"required field missing (OBR-4 universal service identifier of OBR {obr.seq})")
    # OBR-3/OBR-2 equal ORC-3/ORC-2, and the standard lets a sender value them in the ORC only
    # (v2.5 4.5.1.2-3: present in the ORC or in the OBR); the filler number is the accession.
    accession = _accession(group) or _parent_ids(obr)[1] or _parent_ids(obr)[0] or None
    set_id = obr.get(1).strip() or str(obr.seq)
    if accession is None:
        warnings.append(f"OBR {obr.seq}: no OBR-3/ORC-3 or OBR-2/ORC-2; report id made from MSH-10 and set id")
    elif not _accession(group):
        warnings.append(f"OBR {obr.seq}: no order number of its own; keyed on its parent's (OBR-29)")
    patient_id = _checked_patient_id(group.pid, warnings)
    status = _status(group)
    sections = _sections(group, warnings, lead="addendum" if addendum else "findings")
    if not any(sections.values()) and status not in ("cancelled", "entered-in-error"):
        # A cancelled or retracted (all OBX D/W) report carries no text and is still kept.
        warnings.append(f"OBR {obr.seq}: no report text under this OBR; skipped")
        return None
    procedure = (_coded_text(obr, 4, 2, warnings) or _coded_text(obr, 4, 5, warnings)) or None
    effective_raw, issued_raw = obr.get(7).strip(), obr.get(22).strip()
    effective, issued = parse_dtm(effective_raw), parse_dtm(issued_raw)
    for n, raw, parsed in ((7, effective_raw, effective), (22, issued_raw, issued)):
        if raw and parsed is None:
            warnings.append(f"OBR {obr.seq}: OBR-{n} is not a valid date/time; left out")
    return RadiologyReport(
        report_id=accession or f"{header.control_id}-{set_id}",
        patient_id=patient_id,
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
        _check_msh7(header, warnings)
        if not payload(raw).rstrip(b"\x00\x1c\x0b \t\x1a").endswith((b"\r", b"\n")):
            warnings.append("message does not end with a segment terminator")
        if msh.get(14).strip():
            # MSH-14 valued: this message continues an earlier one (v2 2.10.2); its report is a fragment.
            raise Hl7Error("AE", "100", "MSH^1^14",
                           "message continuation (MSH-14) is not supported; send the whole report in one message")
        groups = _groups(_tokenise(text, msh), warnings)
        systems: dict[str, str] = {}
        reports = _reports(groups, header, source_hash, warnings, systems)
        if not reports and all(_awaiting_results(g) for g in groups):
            warnings.append("every OBR says its results are not available yet (OBR-25 O/I/S); no report to read")
        elif not reports:
            _raise_on_unreadable_document(groups)
            kinds = sorted({t for g in groups for o in g.obx if (t := o.get(2).strip().upper()) and o.raw(5)
                            and t not in TEXT_TYPES and t not in CODED_TYPES})
            why = f"; OBX value types {', '.join(_code(k) for k in kinds)} are not report text" if kinds else ""
            if any(g.obx_notes for g in groups):
                why += "; NTE after an OBX is a note on that observation, report text belongs in OBX-5"
            raise Hl7Error("AE", "101", f"OBR^{groups[0].obr.seq}", f"required field missing (no report text in any OBX{why})")
    except Hl7Error as exc:
        exc.header = header
        raise
    oru_header = OruHeader(**header.model_dump(), service_systems=systems)
    return OruMessage(header=oru_header, reports=reports, charset_used=codec, warnings=warnings)


def _raise_on_unreadable_document(groups: list[_Group]) -> None:
    """AE 102 (data type error) at the first ED that says it is a text document but whose data
    is not (bad Base64 or Hex, binary bytes, RTF without its header), when no report was read:
    the sender learns what to fix, where a bare 'no report text' would not say."""
    for group in groups:
        for obx in group.obx:
            if obx.get(2).strip().upper() != "ED" or obx.get(11).strip().upper() in ("D", "W"):
                continue
            doc = _ed_document(obx)
            if doc is not None and doc.text is None:
                raise Hl7Error("AE", "102", f"OBX^{obx.seq}^5",
                               f"data type error (OBX {obx.seq} ED data declared as text {doc.why})")


def _reports(groups: list[_Group], header: MshHeader, source_hash: str, warnings: list[str],
             systems: dict[str, str]) -> list[RadiologyReport]:
    """One report per report key, in message order; `systems` gets each report's OBR-4 coding system.

    OBR groups of one key (the same accession in several OBR, or an addendum OBR under its
    parent) are one report: storage keeps one version per key, so separate reports would keep
    only the last group's text and lose the rest. The coding system is that of the OBR whose
    OBR-4 code the report keeps (the first group's, else the first later one with a code).
    """
    out: dict[str, RadiologyReport] = {}
    owner: dict[int, str] = {}  # id(group) -> key of the report it went into
    for group in groups:
        parent = _is_addendum_of(group, groups)
        report = _report(group, header, source_hash, warnings, addendum=parent is not None)
        if parent is not None and parent is not group and id(parent) in owner:
            key = owner[id(parent)]
        elif report is not None:
            key = report.report_id
        else:
            continue
        owner[id(group)] = key
        if report is None:
            continue
        if report.procedure_code and not (key in out and out[key].procedure_code):
            systems[key] = group.obr.get(4, 3).strip()
        if key in out:
            if _draft_after_signed(out[key], report):
                obx_seqs = ", ".join(str(o.seq) for o in group.obx) or "none"
                warnings.append(f"OBR {group.obr.seq}: {report.status} OBR after a {out[key].status} OBR of the same "
                                f"report; its text (OBX {obx_seqs}) is not merged into the signed report, which stands")
                continue
            if _finalises(out[key], report):
                warnings.append(f"OBR {group.obr.seq}: final report after a preliminary OBR of the same report; "
                                "its sections replace that text")
            elif _corrects(out[key], report):
                warnings.append(f"OBR {group.obr.seq}: corrects an earlier OBR of the same report; "
                                "its sections replace that text")
            else:
                warnings.append(f"OBR {group.obr.seq}: same report as an earlier OBR; its text added to that report")
            out[key] = _merge(out[key], report)
        else:
            out[key] = report
    return list(out.values())


_SECTION_FIELDS = ("history", "technique", "comparison", "findings", "impression", "addendum")
_LATER_WINS = frozenset({"corrected", "amended", "appended"})


_CORRECTION = frozenset({"corrected", "amended"})


def _corrects(first: RadiologyReport, later: RadiologyReport) -> bool:
    """A later OBR group of the same report that is a correction (OBR-25 C, or OBX-11 C/A) of an
    earlier one that is not: the whole report sent again corrected (v2 ch.7), in one message."""
    return later.status in _CORRECTION and first.status not in _CORRECTION


_NOT_FINAL_YET = frozenset({"preliminary", "partial", "registered"})


def _finalises(first: RadiologyReport, later: RadiologyReport) -> bool:
    """A later OBR group of the same report that is its final version (OBR-25 F) after a preliminary
    or partial one (P, R, A, or results pending): the signed report replaces the draft. Joined, the
    report would say the draft's and the final's statements side by side, and stay 'preliminary'."""
    return later.status == "final" and first.status in _NOT_FINAL_YET


_SIGNED = frozenset({"final", "corrected", "amended", "appended"})


def _draft_after_signed(first: RadiologyReport, later: RadiologyReport) -> bool:
    """A later OBR group of the same report that is a draft (preliminary, partial, results pending)
    after a signed one (final, corrected, amended): its text is not the signed report's. Joined,
    the report would state the draft's words as signed; the signed version stands (the message,
    and so the draft, is kept as received)."""
    return first.status in _SIGNED and later.status in _NOT_FINAL_YET


def _merge(first: RadiologyReport, later: RadiologyReport) -> RadiologyReport:
    """Two OBR groups of one report: each section's texts joined in message order; the first
    group's exam data kept (gaps filled from the later); a later correction or amendment sets the
    status, and so does any later group after a cancelled or retracted first one (its text was
    left out); a retracted addendum does not retract the report it adds to.

    A correction of an earlier group (_corrects) replaces each section it sends instead: joined,
    the report would say both the wrong and the corrected text ('Right ...' and 'LEFT ...').
    Sections it does not send stay as the earlier group gave them.
    """
    replace = _corrects(first, later) or _finalises(first, later)
    update: dict[str, object] = {
        name: (getattr(later, name) if replace and getattr(later, name) else
               "\n".join(t for t in (getattr(first, name), getattr(later, name)) if t) or None)
        for name in _SECTION_FIELDS
    }
    for name in ("patient_id", "accession", "modality", "procedure", "procedure_code", "effective", "issued"):
        if getattr(first, name) is None:
            update[name] = getattr(later, name)
    if later.status in _LATER_WINS or replace or first.status in ("cancelled", "entered-in-error", "unknown"):
        update["status"] = later.status
    return first.model_copy(update=update)
