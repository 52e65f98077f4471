"""Property tests: what we serialise, we parse back unchanged (HL7 v2 and FHIR, both directions).

The escape round trip alone (test_hl7_escapes) does not show that a whole message keeps its
text: delimiters, repetitions, FT line breaks, one OBX per line and the section logic all
sit between them. Here a report is written as an ORU^R01 (or a DiagnosticReport) with random
text and random delimiters, and must come back exactly; and every Observation we write with
random text must stay valid R4 and survive a fhir.resources round trip.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import fhirkit
import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from adapters.fhir import FhirInputError, observation_for, reports_from_resource
from adapters.hl7 import EncodingChars, Hl7Error, MshHeader, analysis_to_oru, escape, parse_oru
from models.types import (
    Analysis,
    ChangeClass,
    EntitiesValue,
    ModelIdentity,
    RadiologyReport,
    TaskName,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)

ENCODINGS = [
    EncodingChars(),
    EncodingChars(truncation="#"),
    EncodingChars(field="!", component="@", repetition="*", escape="$", subcomponent="%"),
]

# Report text: any character but a line break (lines are drawn one by one) and ':' (so that
# no line reads as a FINDINGS:/IMPRESSION: heading, which would rightly move text between sections).
# A vertical tab is a line break too: the reader takes it for Word's soft return (adapters/hl7/oru_in.py).
_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters=":\n\x0b")
_LINE = st.text(_CHAR, max_size=30)
_LINES = st.lists(_LINE, max_size=5)
_ID = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12)


def _expected(lines: list[str]) -> str | None:
    """The section text a receiver keeps: the lines, without blank lines at either end."""
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return "\n".join(lines) if lines else None


@dataclass
class _Layout:
    value_type: str  # TX, FT or ST
    one_obx_per_line: bool


_LAYOUTS = st.sampled_from([_Layout("TX", False), _Layout("TX", True), _Layout("FT", False), _Layout("ST", True)])


def _section_obx(enc: EncodingChars, set_id: int, suffix: str, lines: list[str], layout: _Layout) -> list[list[str]]:
    """OBX fields for one section, laid out as senders do: repetitions, FT \\.br\\ or one OBX a line."""
    ident = enc.component.join([enc.subcomponent + suffix, suffix, "L"])
    if layout.one_obx_per_line:
        values = [escape(line, enc) for line in lines]
    elif layout.value_type == "FT":
        values = [escape("\n".join(lines), enc, formatted=True)] if lines else []
    else:
        values = [enc.repetition.join(escape(line, enc) for line in lines)] if lines else []
    return [["OBX", str(set_id + i), layout.value_type, ident, "1", v, "", "", "", "", "", "F"]
            for i, v in enumerate(values)]


def _oru(enc: EncodingChars, version: str, accession: str, patient: str, findings: list[str],
         impression: list[str], layout: _Layout) -> bytes:
    f, c = enc.field, enc.component
    msh = f.join(["MSH", enc.msh2, "RIS", "H", "RADLITE", "H", "20250101", "", c.join(["ORU", "R01"]), "C1", "P",
                  version, "", "", "", "", "", "UNICODE UTF-8"])
    pid = f.join(["PID", "1", "", c.join([escape(patient, enc), "", "", "H", "MR"])])
    obr = ["OBR", "1", "", escape(accession, enc), c.join(["71046", "XR CHEST", "C4"])] + [""] * 21
    obr[24], obr[25] = "RAD", "F"
    obx = _section_obx(enc, 1, "GDT", findings, layout)
    obx += _section_obx(enc, len(obx) + 1, "IMP", impression, layout)
    segments = [msh, pid, f.join(obr)] + [f.join(o) for o in obx]
    return ("\r".join(segments) + "\r").encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(enc=st.sampled_from(ENCODINGS), version=st.sampled_from(["2.3", "2.4", "2.5.1", "2.6", "2.8"]),
       accession=_ID, patient=_ID, findings=_LINES, impression=_LINES, layout=_LAYOUTS)
def test_oru_serialise_then_parse_gives_the_report_back(
    enc: EncodingChars, version: str, accession: str, patient: str, findings: list[str], impression: list[str],
    layout: _Layout,
) -> None:
    raw = _oru(enc, version, accession, patient, findings, impression, layout)
    want_findings, want_impression = _expected(findings), _expected(impression)
    if want_findings is None and want_impression is None:
        with pytest.raises(Hl7Error) as info:
            parse_oru(raw)
        assert (info.value.ack_code, info.value.err_code) == ("AE", "101")
        return
    msg = parse_oru(raw)
    (report,) = msg.reports
    assert (report.findings, report.impression) == (want_findings, want_impression)
    assert (report.accession, report.patient_id) == (accession.strip(), patient.strip())
    assert msg.header.encoding == enc and msg.charset_used == "utf-8"


DEMO = ModelIdentity(model_id="smollm2-135m-demo", sha256="ab" * 32, backend="llama_cpp", role="generation", demo=True)


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=":\x0b"), max_size=300),
       enc=st.sampled_from(ENCODINGS))
def test_oru_out_text_is_read_back_by_our_own_parser(text: str, enc: EncodingChars) -> None:
    """ORU^R01 out (ST or TX repetitions, escapes, line breaks) parses back to the same text."""
    report = RadiologyReport(report_id="A1", accession="A1", findings="x", impression="y", source_format="hl7v2")
    result = TaskResult(task=TaskName.impression_generation, value=TextValue(text=text), confidence=0.5, model=DEMO)
    header = MshHeader(field_sep=enc.field, encoding_chars=enc.msh2, sending_app="RIS", control_id="C1")
    er7 = analysis_to_oru(Analysis(report=report, manifest_version="t", results=[result]), header=header)
    want = _expected(text.split("\n"))
    if want is None:
        with pytest.raises(Hl7Error):
            parse_oru(er7.encode("utf-8"))
        return
    (back,) = parse_oru(er7.encode("utf-8")).reports
    assert back.impression == want and back.accession == "A1" and back.status == "preliminary"


# ---- FHIR ----------------------------------------------------------------------------------


def _fhir_expected(lines: list[str]) -> str | None:
    """presentedForm text/plain as the splitter keeps it: line ends normalised, trailing blanks dropped."""
    flat = "\n".join(lines).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _expected([ln.rstrip() for ln in flat])


# FHIR text renditions: any line but one holding NUL, which marks bytes as binary, never report text
# (adapters.fhir.inbound.looks_binary).
_TEXT_LINES = st.lists(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=":\n\x00"),
                               max_size=30), max_size=5)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(findings=_TEXT_LINES, impression=_TEXT_LINES, charset=st.sampled_from(["utf-8", "utf-16"]))
def test_presented_form_serialise_then_parse_gives_the_report_back(
    findings: list[str], impression: list[str], charset: str
) -> None:
    text = "FINDINGS:\n" + "\n".join(findings) + "\n\nIMPRESSION:\n" + "\n".join(impression)
    data = base64.b64encode(text.encode(charset)).decode("ascii")
    dr = {"resourceType": "DiagnosticReport", "id": "r1", "status": "final", "code": {"text": "CT CHEST"},
          "subject": {"reference": "Patient/p1"},
          "presentedForm": [{"contentType": f"text/plain; charset={charset}", "data": data}]}
    want_findings, want_impression = _fhir_expected(findings), _fhir_expected(impression)
    if want_findings is None and want_impression is None:
        with pytest.raises(FhirInputError):
            reports_from_resource(dr)
        return
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": dr}]}
    for resource in (dr, bundle):
        (report,) = reports_from_resource(resource)
        assert (report.findings, report.impression, report.patient_id) == (want_findings, want_impression, "p1")


_ANY = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_REPORT = RadiologyReport(report_id="r1", accession="A1", patient_id="p1", findings="Nodule.", impression="LR-4.",
                          source_format="fhir")
_ROUND_TRIP_SKIP = ("issued",)  # set from the clock on each call


# White space of every kind, alone: a small model's blank answer (U+0085, U+3000 are not FHIR text).
_BLANK = st.text(st.sampled_from(" \t\r\n\x85\u2028\u3000"), max_size=3)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(text="\u3000", finding="\x85", change="new", terms=["\u2028"])
@given(text=_ANY | _BLANK, finding=_ANY | _BLANK, change=st.sampled_from(list(ChangeClass.__args__)),
       terms=st.lists(_ANY | _BLANK, max_size=3))
def test_observations_with_any_text_stay_valid_r4_and_round_trip(
    text: str, finding: str, change: str, terms: list[str]
) -> None:
    results = [
        TaskResult(task=TaskName.impression_generation, value=TextValue(text=text), confidence=0.5, model=DEMO),
        TaskResult(task=TaskName.temporal_comparison, confidence=0.5, model=DEMO,
                   value=TemporalValue(changes=[TemporalChange(finding=finding, change=change)])),  # type: ignore[arg-type]
        TaskResult(task=TaskName.radiology_ner, value=EntitiesValue(present=terms), confidence=0.5, model=DEMO),
    ]
    for result in results:
        obs = observation_for(result, _REPORT)
        assert fhirkit.validate(obs) == [], result.task
        again = json.loads(get_fhir_model_class("Observation").model_validate(obs).model_dump_json())
        for key in _ROUND_TRIP_SKIP:
            again.pop(key)
        assert again == {k: v for k, v in obs.items() if k not in _ROUND_TRIP_SKIP}
