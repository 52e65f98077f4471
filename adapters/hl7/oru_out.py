"""ORU^R01 out: analysis results as OBX for engines that route results onward.

Every OBX carries status P (our results are preliminary AI output); each result's OBX
set shares one OBX-4 sub-id and is followed by NTE lines naming the model (id, backend,
file hash) and, when a demo model took part in it (answered, or was overruled), the demo notice. OBX-14 is the exam time
(what was observed, as OBR-7), OBX-19 when we analysed it. OBX-8 is A for a positive CheXpert
finding and a RADS category of high suspicion, AA for a critical result. A category the report states
but its system does not define ('BI-RADS 7') is sent as its words under the local code STATED-UNLISTED
with an NTE saying so; the model's differing answer only in the disagreement NTE. A CheXpert label the
report never mentions gets no OBX (not mentioned is not negative); an NTE names it.
"""

from __future__ import annotations

import re
from datetime import datetime

from adapters.cds.guidelines import high_suspicion
from adapters.cds.regions import misfit_regions
from adapters.hl7.ack import hl7_timestamp, msh_line, new_control_id
from adapters.hl7.escapes import EncodingChars, escape
from adapters.hl7.header import MshHeader, OruHeader
from models.grounding import mentioned_labels
from models.types import (
    CHEXPERT_LABELS,
    DEMO_NOTICE,
    Analysis,
    ChexpertValue,
    EntitiesValue,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    TaskResult,
    TemporalValue,
    TextValue,
)

OUT_VERSION = "2.5.1"  # CWE exists from v2.5 on
ST_MAX = 199

Ident = tuple[str, str, str]  # OBX-3: code, text, coding system

RADS_CODES: dict[str, Ident] = {
    "Lung-RADS": ("RID50134", "Lung-RADS assessment", "RADLEX"),
    "TI-RADS": ("RID50503", "TI-RADS assessment", "RADLEX"),
    "BI-RADS": ("RDE1586", "BI-RADS assessment category", "RADELEMENT"),
}
"""Verified codes only (spec §2.3); the other systems get local codes."""

STATED_UNLISTED = "STATED-UNLISTED"
"""OBX-5 code (local) of a category the report states but its system does not define ('BI-RADS 7')."""

N_STAGE: Ident = ("21906-3", "Regional lymph nodes.clinical [Class] Cancer", "LN")
M_STAGE: Ident = ("21907-1", "Distant metastases.clinical [Class] Cancer", "LN")
TNM_SNOMED: dict[str, str] = {"cN0": "1229967007", "cN3": "1229984001", "cM0": "1229901006"}
"""SNOMED CT values verified in mCODE examples (spec §2.3); others are sent with the local code only."""


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # tab is text
"""After escape() no CR or LF is left; any other control character would corrupt the segment or the
MLLP frame (VT 0x0B starts one, FS 0x1C ends it): sent as a hex escape, which unescape() reads back."""


class _Writer:
    def __init__(self, enc: EncodingChars, now: datetime | None, observed: datetime | None = None) -> None:
        self.enc = enc
        self.when = hl7_timestamp(now)
        # OBX-14 is when the observation was made: the exam (OBR-7); OBX-19 when it was analysed (v2.5+).
        self.observed = hl7_timestamp(observed) if observed else ""
        self.segments: list[str] = []
        self.obx_count = 0

    def e(self, text: str, *, formatted: bool = False) -> str:
        """Escaped ER7 text; a control character left in it (VT, FS: MLLP framing bytes) as \\Xhh\\."""
        out = escape(text, self.enc, formatted=formatted)
        esc = self.enc.escape or "\\"
        return _CONTROL.sub(lambda m: f"{esc}X{ord(m.group()):02X}{esc}", out)

    def cwe(self, code: str, text: str, system: str, alt: tuple[str, str, str] | None = None) -> str:
        parts = [self.e(code), self.e(text), self.e(system)]
        if alt:
            parts += [self.e(p) for p in alt]
        return self.enc.component.join(parts)

    def add(self, *fields: str) -> None:
        self.segments.append(self.enc.field.join(fields))

    def obx(self, sub_id: int, ident: Ident, value_type: str, value: str, flags: str = "") -> None:
        self.obx_count += 1
        self.add(
            "OBX", str(self.obx_count), value_type, self.cwe(*ident), str(sub_id), value,
            "", "", flags, "", "", "P", "", "", self.observed, "", "", "", "", self.when,
        )

    def text_obx(self, sub_id: int, ident: Ident, text: str) -> None:
        lines = text.split("\n")
        if len(lines) == 1 and len(text) <= ST_MAX:
            self.obx(sub_id, ident, "ST", self.e(text))
        else:
            self.obx(sub_id, ident, "TX", self.enc.repetition.join(self.e(line) for line in lines))

    def notes(self, texts: list[str]) -> None:
        for i, text in enumerate(texts, start=1):
            self.add("NTE", str(i), "L", self.e(text, formatted=True))


def _local(task: str, name: str) -> Ident:
    return (f"RADLITE-{task.upper()}", name, "L")


def _high_suspicion(v: RadsValue) -> bool:
    """A `warning` category of the guideline table: OBX-8 A (abnormal), as the FHIR interpretation."""
    return bool(v.applicable and v.system and v.category and high_suspicion(v.system, v.category))


_NOT_ABNORMAL = {"no finding", "support devices"}
"""CheXpert labels whose being positive is no abnormal result (a line or tube in place, a normal film)."""


def _result_obx(w: _Writer, sub_id: int, result: TaskResult, report: RadiologyReport) -> list[str]:
    """The OBX lines of one result; returns the notes they need (e.g. labels the report never mentions)."""
    v = result.value
    if isinstance(v, RadsValue):
        ident = RADS_CODES.get(v.system or "", _local(f"RADS-{v.system or 'NONE'}", f"{v.system or 'RADS'} assessment"))
        if v.unlisted:
            # The report's words under a local "stated, not a category" code (receivers that need a CWE code
            # get one that no category has), never a model's category; the caveat rides in the text itself.
            text = f"{v.label} (as stated; not a {v.system} category)"
            w.obx(sub_id, ident, "CWE", w.cwe(STATED_UNLISTED, text, "L"))
            return [f"Not a category RadLite knows: the report states {v.label}, which is not a {v.system} "
                    "category; no guideline management applies; check the report"]
        code = v.category if v.applicable and v.category else "NA"
        # A model-only system that cannot apply to the study (BI-RADS on a liver MRI) is not flagged, as in FHIR.
        misfit = misfit_regions(result.decided_by, v.system, report)
        w.obx(sub_id, ident, "CWE", w.cwe(code, v.label, "L"), "A" if _high_suspicion(v) and not misfit else "")
        _rads_modifier_obx(w, sub_id, v)
        if misfit:
            return [f"{v.system} does not apply to this study (region: {misfit}); not flagged abnormal"]
    elif isinstance(v, NStageValue):
        stage = f"c{v.stage}" if v.stage else ("cN+" if v.involvement else "cN0")
        snomed = TNM_SNOMED.get(stage)
        w.obx(sub_id, N_STAGE, "CWE", w.cwe(stage, stage, "L", (snomed, stage, "SCT") if snomed else None))
    elif isinstance(v, MStageValue):
        stage = f"c{v.stage}"
        snomed = TNM_SNOMED.get(stage)
        w.obx(sub_id, M_STAGE, "CWE", w.cwe(stage, stage, "L", (snomed, stage, "SCT") if snomed else None))
    elif isinstance(v, NliValue):
        w.obx(sub_id, _local("NLI", "Impression consistency with findings"), "CWE", w.cwe(v.label, v.label, "L"))
    elif isinstance(v, ChexpertValue):
        # A label the report never mentions is "not mentioned", not negative: no OBX, named in an NTE.
        named = mentioned_labels(report.text())
        silent = [lbl for lbl in CHEXPERT_LABELS
                  if lbl != "no finding" and v.labels.get(lbl, "negative") == "negative" and lbl not in named]
        for label, state in v.labels.items():
            if label in silent:
                continue
            ident = _local(f"CXR-{label.replace(' ', '-')}", label)
            flag = "A" if state == "positive" and label not in _NOT_ABNORMAL else ""
            w.obx(sub_id, ident, "CWE", w.cwe(state, state, "L"), flag)
        if silent:
            return [f"Not mentioned in the report (not negative): {', '.join(silent)}"]
    elif isinstance(v, EntitiesValue):
        for kind, items in (
            ("anatomy", v.anatomy), ("present", v.present), ("absent", v.absent),
            ("uncertain", v.uncertain), ("changes", v.changes),
        ):
            for item in items:
                w.text_obx(sub_id, _local(f"NER-{kind}", f"Entity ({kind})"), item)
    elif isinstance(v, TemporalValue):
        for change in v.changes:
            w.text_obx(sub_id, _local("TEMPORAL", "Temporal change"), f"{change.finding}: {change.change}")
    elif isinstance(v, TextValue):
        names = {"impression_generation": "Generated impression", "radiology_qa": "Answer"}
        w.text_obx(sub_id, _local(result.task.value, names.get(result.task.value, result.task.value)), v.text)
    return []


def _rads_modifier_obx(w: _Writer, sub_id: int, v: RadsValue) -> None:
    """One OBX per modifier after the category's OBX (same sub-id): receivers that read only the
    category OBX see what they saw before; the significant incidental finding (Lung-RADS S) still travels."""
    for mod in v.modifiers:
        if v.system == "NI-RADS":
            site, category = mod.split(" ", 1)
            ident = _local(f"RADS-NI-RADS-{site}", f"NI-RADS {site} category")
            w.obx(sub_id, ident, "CWE", w.cwe(category, f"NI-RADS {category}", "L"))
        else:
            meaning = f"{v.system} {mod}: {v.modifier_meaning(mod)}"
            ident = _local(f"RADS-{v.system}-MODIFIER", f"{v.system} modifier")
            w.obx(sub_id, ident, "CWE", w.cwe(mod, meaning, "L"))


def _result_notes(result: TaskResult, extra: list[str]) -> list[str]:
    notes = [
        f"Task {result.task.value}; model {result.model.display}",
        f"Confidence {result.confidence:.2f}; decided by {result.decided_by}",
        *extra,
    ]
    if result.disagreement:
        d = result.disagreement
        notes.append(f"Disagreement: model said {d.model_value}, report states {d.rules_value}")
    if result.demo:  # a demo model answered, or was consulted and overruled by the report's statement
        notes.append(DEMO_NOTICE)
    return notes


_LOINC = re.compile(r"^(\d{1,7})-(\d)$")


def _is_loinc(code: str) -> bool:
    """A LOINC code by its form and its mod-10 (Luhn) check digit: '18748-4', '24627-2'."""
    m = _LOINC.match(code.strip())
    if not m:
        return False
    total = 0
    for i, ch in enumerate(reversed(m.group(1))):
        d = int(ch) * (2 if i % 2 == 0 else 1)  # the rightmost digit of the number is doubled
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10 == int(m.group(2))


_GENERIC_SERVICE = ("18748-4", "Diagnostic imaging study", "LN")


def _service_system(report: RadiologyReport, header: MshHeader | None) -> str:
    """OBR-4.3 of the results message: the coding system the sender gave its OBR-4 code.

    From the parsed message's header when it came as HL7 (OruHeader), as sent (LN, CPT4, C4,
    99LOCAL ...). Otherwise (a FHIR or file report, or the sender left OBR-4.3 empty) a code
    whose form and check digit make it LOINC is `LN`; anything else is `L` (local), as before.
    Naming a LOINC or CPT code `L` would make receivers read it as a code of ours.
    """
    code = report.procedure_code
    if not code:
        return ""
    sent = header.service_systems.get(report.report_id, "") if isinstance(header, OruHeader) else ""
    return sent or ("LN" if _is_loinc(code) else "L")


def analysis_to_oru(
    analysis: Analysis, *, header: MshHeader | None = None, now: datetime | None = None, control_id: str | None = None
) -> str:
    """An ORU^R01 (v2.5.1, UTF-8) carrying the analysis results, addressed back to `header`'s sender."""
    enc = header.encoding if header else EncodingChars()
    report = analysis.report
    w = _Writer(enc, now, report.effective)
    w.segments.append(
        msh_line(
            enc,
            sending_app="RADLITE",
            sending_facility="RADLITE_CDS",
            receiving_app=header.sending_app if header else "",
            receiving_facility=header.sending_facility if header else "",
            message_type=enc.component.join(["ORU", "R01", "ORU_R01"]),
            control_id=control_id or new_control_id(),
            processing_id=(header.processing_id if header and header.processing_id else "P"),
            version=OUT_VERSION,
            now=now,
            charset="UNICODE UTF-8",
        )
    )
    if report.patient_id:
        w.add("PID", "1", "", enc.component.join([w.e(report.patient_id), "", "", "", "MR"]))
    filler = w.e(report.accession or report.report_id)
    w.add("ORC", "RE", "", filler)
    if report.procedure_code or report.procedure:
        service = w.cwe(report.procedure_code or "", report.procedure or "", _service_system(report, header))
    else:
        # OBR-4 is required (v2.3-v2.8.2) and a report may come without an exam name (a text file):
        # LOINC's generic "Diagnostic imaging study" names it, rather than an empty field receivers refuse.
        service = w.cwe(*_GENERIC_SERVICE)
    obr = ["OBR", "1", "", filler, service] + [""] * 21
    obr[7] = hl7_timestamp(report.effective) if report.effective else ""
    obr[22] = w.when
    obr[24] = w.e(report.modality or "")
    obr[25] = "P"
    w.add(*obr)
    header_notes = ["AI-generated results (RadLite CDS); preliminary until reviewed by a clinician"]
    if analysis.demo:
        header_notes.append(DEMO_NOTICE)
    if analysis.pending:
        header_notes.append("Pending tasks: " + ", ".join(t.value for t in analysis.pending))
    if analysis.errors:
        header_notes.append("Failed tasks: " + ", ".join(sorted(analysis.errors)))
    w.notes(header_notes)
    sub_id = 0
    for result in analysis.results:
        sub_id += 1
        before = w.obx_count
        extra = _result_obx(w, sub_id, result, report)
        if w.obx_count == before:
            # An empty result (no labels, no changes) still reports that the task ran.
            w.obx(sub_id, _local(result.task.value, result.task.value), "ST", w.e("none found"))
        w.notes(_result_notes(result, extra))
    facts = analysis.facts
    if facts.critical or facts.follow_ups or facts.laterality:
        sub_id += 1
        for critical in facts.critical:
            w.obx(sub_id, _local("CRITICAL", "Critical result"), "CWE", w.cwe(critical.term, critical.label, "L"), "AA")
        for follow_up in facts.follow_ups:
            w.text_obx(sub_id, _local("FOLLOWUP", "Follow-up recommendation"), follow_up.text)
        if facts.laterality:
            w.obx(sub_id, _local("LATERALITY", "Laterality of index finding"), "ST", w.e(facts.laterality))
        w.notes(["Read from the report text by the rules engine"] + ([DEMO_NOTICE] if analysis.demo else []))
    return "\r".join(w.segments) + "\r"
