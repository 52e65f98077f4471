"""Outputs round 8: combinations on one report, messy text, disagreements, and the spec's dates.

1. Every row of shared/spec/rads-management.md with a follow-up interval: the card's summary words the
   interval as the row does ("in 1-3 months", "within 3 months"), and the drafted ServiceRequest falls on
   the dates that interval gives from the exam date (occurrenceDateTime, or occurrencePeriod for a range
   or an upper bound); a row whose follow-up is "none" orders nothing. The row's meaning is on the card.
2. A stated value and a model answer that disagree, reconciled by the real ensemble rule from the real
   rules engine's reading: the report's value is shown and coded, the model's is kept and surfaced on
   the card and the Observation with the overruled model's id and full GGUF hash; the urgency follows the
   report's statement, and a model may only raise it where the value was not written.
3. Unseen reports through the real pipeline (demo GGUF + rules engine, SQLite): a RADS category, a critical
   result and TNM staging on one report; two RADS systems on one report; CRLF line ends, tabs, Unicode
   (NBSP, non-breaking hyphen, ×, ≥, accented names, a non-BMP character) and addenda. Every Observation
   is checked with fhirkit, fhircraft, fhir.resources R4B, the R4 rules those leave out and the profile we
   publish; every evidence offset must point at its sentence in RadiologyReport.text(); every card is
   checked against the CDS Hooks 2.0 card rules (uuid, indicator, source.topic Coding, selectionBehavior
   exactly when there are suggestions, overrideReasons Codings, unique uuids per response).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import test_fhir_profiles
from card_probe import suggested as _resources
from card_probe import topic as _topic
from test_outputs_round5 import card_problems, r4_rule_problems
from test_outputs_round7 import (
    DEMO,
    EXAM,
    FHIR_SERVER,
    PROFILE_URLS,
    SPEC_ROWS,
    _rads_analysis,
)
from test_outputs_round7 import check_cards as r7_check_cards

from adapters.cds.cards import add_duration, report_cards
from adapters.cds.models import Card, CdsResponse, empty_paths, wire
from adapters.fhir import RULES_IDENTITY, codes, observations_for, transaction_bundle
from models.ensemble import _reconcile
from models.rules.engine import RulesEngine
from models.types import (
    DEMO_NOTICE,
    Analysis,
    ChexpertValue,
    MStageValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    ReportFacts,
    TaskName,
    TaskRequest,
    TaskResult,
    TemporalChange,
    TemporalValue,
)
from plugin.pipeline import Actor, Pipeline
from plugin.planner import plan_report
from plugin.storage.db import make_engine, make_sessionmaker, upgrade

globals().update(
    profile_models=test_fhir_profiles.profile_models, profile_problems=test_fhir_profiles.profile_problems
)

EXAM_DAY = EXAM.date()


def _cards(analysis: Analysis) -> list[Card]:
    return report_cards(analysis, patient_id=analysis.report.patient_id or "p", fhir_server=FHIR_SERVER)


# ---- 1. the spec's follow-up intervals, as dates --------------------------------------------------------

_ISO = re.compile(r"\((P\d+[YMWD])(?:-(P\d+[YMWD]))?[,)]")


def _expected_when(clause: str) -> tuple[str, Any] | None:
    """('dateTime', date) or ('period', (start, end)) for the first ISO 8601 interval of a follow-up clause."""
    m = _ISO.search(clause)
    if m is None:
        return None
    first, second = m.group(1), m.group(2)
    if second:
        return "period", (add_duration(EXAM_DAY, first), add_duration(EXAM_DAY, second))
    if "<=" in clause[: m.start()]:
        return "period", (EXAM_DAY, add_duration(EXAM_DAY, first))
    return "dateTime", add_duration(EXAM_DAY, first)


def _interval_words(clause: str) -> str:
    """How the summary must word the clause's interval: 'in 6 months', 'in 1-3 months', 'within 3 months'."""
    m = re.search(r"(<=\s*)?(\d+)(?:-(\d+))?\s+(month|year|week)s?", clause)
    assert m, clause
    n = f"{m.group(2)}-{m.group(3)}" if m.group(3) else m.group(2)
    unit = m.group(4) + ("" if n == "1" else "s")
    return f"{'within' if m.group(1) else 'in'} {n} {unit}"


DATED = sorted(
    (s, c) for (s, c), rows in SPEC_ROWS.items()
    if s != "TI-RADS" and "modifier" not in c
    and any(_ISO.search(r.get("Follow-up") or "") or (r.get("Follow-up") or "").startswith("none") for r in rows)
)


@pytest.mark.parametrize(("system", "category"), DATED)
def test_the_drafted_order_falls_on_the_specs_interval_from_the_exam_date(
    system: str, category: str, validate_r4: Any
) -> None:
    rows = SPEC_ROWS[(system, category)]
    analysis, _ = _rads_analysis(RadsValue(system=system, category=category), DEMO)
    cards = _cards(analysis)
    r7_check_cards(cards, demo=True, validate_r4=validate_r4)
    [card] = _topic(cards, "rads")
    orders = _resources(card, "ServiceRequest")
    follow = [r["Follow-up"] for r in rows]
    if all(f.startswith("none") for f in follow):
        assert orders == [], f"{follow}: the spec orders nothing"
        assert "no follow-up" in card.summary or "no further testing" in card.summary, card.summary
        return
    [sr] = orders
    [clause] = {f.split("; ")[0] for f in follow}  # the row's first (primary) follow-up
    expected = _expected_when(clause)
    if expected is None:
        assert "occurrenceDateTime" not in sr and "occurrencePeriod" not in sr
        return
    kind, when = expected
    if kind == "dateTime":
        assert sr.get("occurrenceDateTime") == when.isoformat() and "occurrencePeriod" not in sr, (clause, sr)
    else:
        start, end = when
        assert sr.get("occurrencePeriod") == {"start": start.isoformat(), "end": end.isoformat()}, (clause, sr)
        assert "occurrenceDateTime" not in sr
    assert _interval_words(clause) in card.summary, (clause, card.summary)
    first = _ISO.search(clause)
    assert first is not None and first.group(1) in " ".join(n["text"] for n in sr["note"])


MEANING_ROWS = sorted((s, c) for (s, c) in SPEC_ROWS if "modifier" not in c)


@pytest.mark.parametrize(("system", "category"), MEANING_ROWS)
def test_the_card_states_the_rows_meaning(system: str, category: str, validate_r4: Any) -> None:
    """The meaning column (before any parenthesised example or threshold) is on the card, as the spec words it."""
    rows = SPEC_ROWS[(system, category)]
    analysis, _ = _rads_analysis(RadsValue(system=system, category=category), DEMO)
    [card] = _topic(_cards(analysis), "rads")
    detail = card.detail or ""
    keys = ("Meaning", "Likelihood of csPCa", "Likelihood of muscle invasion")
    meanings = {next(v for key in keys for k, v in r.items() if k.startswith(key)) for r in rows}
    for meaning in meanings:
        head = re.split(r"\s*[(:]", meaning)[0].rstrip(".").strip()
        if head.lower() in ("n/a", ""):
            continue
        assert head.lower() in detail.lower(), (meaning, detail[:400])


# ---- 2. a stated value and a model answer that disagree ------------------------------------------------


def _report(rid: str, procedure: str, modality: str, findings: str, impression: str, **kw: Any) -> RadiologyReport:
    return RadiologyReport(report_id=rid, patient_id=kw.pop("patient_id", f"pt8-{rid}"), accession=f"R8-{rid.upper()}",
                           modality=modality, procedure=procedure, effective=kw.pop("effective", EXAM),
                           issued=kw.pop("issued", EXAM + timedelta(hours=1)), source_format="fhir", findings=findings,
                           impression=impression, **kw)


def _model_says(task: TaskName, value: Any, report: RadiologyReport, confidence: float = 0.71) -> TaskResult:
    return TaskResult(task=task, value=value, confidence=confidence, evidence=[], model=DEMO, decided_by="model",
                      raw_output=str(value))


def _reconciled(task: TaskName, model_value: Any, report: RadiologyReport) -> Analysis:
    stated = RulesEngine().stated(TaskRequest(task=task, report=report))
    assert stated is not None, "the rules read the report's statement"
    result = _reconcile(_model_says(task, model_value, report), stated)
    assert result.disagreement is not None and result.disagreement.model == DEMO
    return Analysis(report=report, manifest_version="r8", results=[result], facts=ReportFacts())


DISAGREE = {
    "bi3-model4b": (_report("bi3m", "MG DIAGNOSTIC LEFT W TOMO", "MG",
                            "Left breast 3 o'clock: 6 mm oval circumscribed mass, likely fibroadenoma.",
                            "Probably benign left breast mass. BI-RADS 3. Short-interval follow-up in 6 months."),
                    TaskName.rads_assignment, RadsValue(system="BI-RADS", category="4B"), "info", "BI-RADS 3"),
    "bi4b-model2": (_report("bi4bm", "US BREAST RIGHT", "US",
                            "Right breast 10 o'clock: 14 mm irregular hypoechoic mass with angular margins.",
                            "Suspicious right breast mass, BI-RADS 4B. Ultrasound-guided core biopsy recommended."),
                    TaskName.rads_assignment, RadsValue(system="BI-RADS", category="2"), "warning", "BI-RADS 4B"),
    "lr3-model5": (_report("lr3m", "MRI ABDOMEN LIVER W WO CONTRAST", "MR",
                           "Cirrhotic liver. Segment 6 observation 14 mm with nonrim arterial phase hyperenhancement.",
                           "LI-RADS LR-3 observation in segment 6. Repeat multiphase MRI in 3-6 months."),
                   TaskName.rads_assignment, RadsValue(system="LI-RADS", category="LR-5"), "info", "LR-3"),
    "pi2-model4": (_report("pi2m", "MRI PROSTATE MULTIPARAMETRIC", "MR",
                           "Diffuse mild T2 hypointensity of the peripheral zone without focal restriction.",
                           "PI-RADS 2. No clinically significant lesion."),
                   TaskName.rads_assignment, RadsValue(system="PI-RADS", category="4"), "info", "PI-RADS 2"),
    "n1-model3": (_report("n1m", "CT NECK W CONTRAST", "CT",
                          "Known left base of tongue carcinoma. Single ipsilateral level II node 2.4 cm.",
                          "Ipsilateral single nodal metastasis, N1."),
                  TaskName.n_staging, NStageValue(involvement=True, stage="N3"), "info", "N1"),
    "m0-model1": (_report("m0m", "CT CHEST ABDOMEN PELVIS W CONTRAST", "CT",
                          "Rectal wall thickening. Liver, adrenals and bones are unremarkable.",
                          "Rectal primary. No distant metastases (M0)."),
                  TaskName.m_staging, MStageValue(stage="M1"), "info", "M0"),
}


@pytest.mark.parametrize("case", list(DISAGREE))
def test_a_disagreement_shows_the_reports_value_and_names_the_overruled_model(
    case: str, validate_r4: Any, profile_problems: Any
) -> None:
    report, task, model_value, indicator, shown = DISAGREE[case]
    analysis = _reconciled(task, model_value, report)
    result = analysis.results[0]
    assert result.decided_by == "rules" and shown in result.disagreement.rules_value  # type: ignore[union-attr]
    cards = _cards(analysis)
    r7_check_cards(cards, demo=True, validate_r4=validate_r4)
    topic = "rads" if task == TaskName.rads_assignment else "staging"
    [card] = _topic(cards, topic)
    assert card.indicator == indicator, "the report's statement sets the urgency, not the overruled model"
    detail = card.detail or ""
    shown_model = model_value.full_label if isinstance(model_value, RadsValue) else model_value.stage
    assert "Discrepancy" in detail and shown_model in detail and shown in detail
    assert DEMO.model_id in detail and DEMO.sha256[:12] in detail, "the card names the overruled model"
    assert DEMO_NOTICE in card.source.label and DEMO_NOTICE in detail
    [obs] = observations_for(analysis)
    validate_r4(obs)
    assert r4_rule_problems(obs) == [] and profile_problems(obs) == []
    assert obs["meta"]["profile"][0] in PROFILE_URLS
    notes = " ".join(n["text"] for n in obs["note"])
    assert shown_model in notes and shown in notes
    assert DEMO.model_id in notes and DEMO.sha256 in notes, "the Observation names the overruled model file"
    assert DEMO_NOTICE in notes and {"system": codes.RADLITE_CS, "code": codes.DEMO_TAG_CODE,
                                     "display": DEMO_NOTICE} in obs["meta"]["tag"]
    value_text = (obs.get("valueCodeableConcept") or {}).get("text", "")
    assert shown in value_text or shown in json.dumps(obs.get("valueCodeableConcept")), value_text
    if indicator == "info":
        assert obs.get("interpretation") != [codes.ABNORMAL_INTERPRETATION]
    # The bundle's Provenance names both the rules engine and the consulted model as agents.
    bundle = transaction_bundle(analysis)
    validate_r4(bundle)
    [prov] = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Provenance"]
    names = " ".join(a["who"].get("display", "") for a in prov["agent"])
    assert DEMO.model_id in names and RULES_IDENTITY.model_id in names


def test_a_stated_chest_label_is_kept_and_the_models_positive_raises_nothing(validate_r4: Any) -> None:
    report = _report("cxneg", "XR CHEST PA AND LATERAL", "DX",
                     "Lungs are clear. No pneumothorax. No pleural effusion. Normal heart size.",
                     "No acute cardiopulmonary process.")
    stated = RulesEngine().stated(TaskRequest(task=TaskName.abnormality_detection, report=report))
    assert stated is not None and isinstance(stated.value, ChexpertValue)
    model = _model_says(TaskName.abnormality_detection,
                        ChexpertValue(labels={"pneumothorax": "positive", "pleural effusion": "positive"}), report)
    analysis = Analysis(report=report, manifest_version="r8", results=[_reconcile(model, stated)], facts=ReportFacts())
    result = analysis.results[0]
    assert result.value.labels["pneumothorax"] == "negative"  # type: ignore[union-attr]
    cards = _cards(analysis)
    r7_check_cards(cards, demo=True, validate_r4=validate_r4)
    assert _topic(cards, "chest") == [] and not [c for c in cards if c.indicator != "info"]
    [obs] = observations_for(analysis)
    notes = " ".join(n["text"] for n in obs["note"])
    assert "pneumothorax: positive" in notes and "pneumothorax: negative" in notes and DEMO.sha256 in notes


def test_a_stated_new_finding_is_kept_when_the_model_calls_it_resolved(validate_r4: Any) -> None:
    report = _report("tmpnew", "CT CHEST W CONTRAST", "CT",
                     "Comparison CT 2026-03-02. New 9 mm solid nodule in the right lower lobe. "
                     "Previously seen left pleural effusion has resolved.",
                     "New right lower lobe nodule. Resolved left effusion.",
                     comparison="CT chest 2026-03-02")
    stated = RulesEngine().stated(TaskRequest(task=TaskName.temporal_comparison, report=report))
    assert stated is not None and isinstance(stated.value, TemporalValue)
    findings = [c.finding for c in stated.value.changes if c.change == "new"]
    assert findings, stated.value
    model = _model_says(TaskName.temporal_comparison,
                        TemporalValue(changes=[TemporalChange(finding=findings[0], change="resolved")]), report)
    analysis = Analysis(report=report, manifest_version="r8", results=[_reconcile(model, stated)], facts=ReportFacts())
    cards = _cards(analysis)
    r7_check_cards(cards, demo=True, validate_r4=validate_r4)
    [card] = _topic(cards, "interval-change")
    assert "new" in card.summary.lower() and findings[0].split()[0].lower() in card.summary.lower()
    assert "Discrepancy" in (card.detail or "") and DEMO.model_id in (card.detail or "")


# ---- 3. unseen reports through the real pipeline ----------------------------------------------------------

CRLF_MAMMO = ("Bilateral CC and MLO views with tomosynthesis.\r\nComparison: 2025-08-11.\r\n"
              "Left breast upper outer quadrant, posterior depth: 9 mm oval circumscribed mass.\r\n"
              "Right breast: no suspicious findings.\r\n")
TAB_PROSTATE = ("Prostate volume 48 mL. PSA density 0.19.\n"
                "Lesion\tZone\tSize\tScore\n"
                "1\tleft PZ posterolateral mid gland\t13 mm\tPI-RADS 4\n"
                "2\tright TZ anterior apex\t7 mm\tPI-RADS 3\n")

# id -> (report, expected (system, category) or None, critical terms, expected N stage, expected M stage)
PIPELINE: dict[str, tuple[RadiologyReport, tuple[str, str] | None, set[str], str | None, str | None]] = {
    r.report_id: (r, rads, crit, n, m)
    for r, rads, crit, n, m in [
        (_report("combo-lung", "CT CHEST LUNG CANCER SCREENING LOW DOSE", "CT",
                 "Right upper lobe spiculated solid nodule 24 mm with enlarged ipsilateral hilar node 1.8 cm.\n"
                 "New small left apical pneumothorax.\nNo pleural effusion.",
                 "1. Lung-RADS 4X: spiculated right upper lobe nodule. Ipsilateral hilar nodal metastasis, N1. "
                 "No distant metastases, M0.\n2. New small left apical pneumothorax. Called to Dr. Okafor at 09:12."),
         ("Lung-RADS", "4X"), {"pneumothorax"}, "N1", "M0"),
        (_report("combo-cad", "CTA CORONARY ARTERIES W CALCIUM SCORE", "CT",
                 "Proximal LAD 70-99% stenosis with positive remodeling and low attenuation plaque.\n"
                 "Incidental intimal flap in the descending thoracic aorta from the left subclavian artery origin.",
                 "CAD-RADS 4A/P2/HRP. Stanford type B aortic dissection of the descending thoracic aorta; "
                 "findings discussed with the ED physician at 14:05."),
         ("CAD-RADS", "4A"), {"aortic dissection"}, None, None),
        (_report("combo-liver", "MRI ABDOMEN LIVER W WO CONTRAST", "MR",
                 "Cirrhosis. Segment 8 mass 4.2 cm with arterial hyperenhancement, washout and capsule, with "
                 "enhancing tumour extending into the right portal vein.\nPortocaval node 2.2 cm.\n"
                 "Multiple lung base nodules up to 12 mm, new.",
                 "LR-TIV: tumour in vein (right portal vein). Regional nodal metastasis, N1. "
                 "Pulmonary metastases, M1. Multidisciplinary tumour board discussion recommended."),
         ("LI-RADS", "LR-TIV"), set(), "N1", "M1"),
        (_report("combo-staging-pe", "CT CHEST ABDOMEN PELVIS W CONTRAST", "CT",
                 "Several mesorectal lymph nodes up to 9 mm.\nFilling defect in a right lower lobe segmental "
                 "pulmonary artery.\nTwo hepatic lesions up to 2.1 cm consistent with metastases.",
                 "1. Rectal adenocarcinoma staging: regional nodal disease, N1; hepatic metastases, M1.\n"
                 "2. Incidental acute right lower lobe segmental pulmonary embolism; communicated to Dr. Haas at "
                 "10:40.",
                 history="Newly diagnosed rectal adenocarcinoma. Staging."),
         None, {"pulmonary embolism"}, "N1", "M1"),
        (_report("combo-pe-birads", "CTA CHEST PULMONARY EMBOLISM PROTOCOL", "CT",
                 "Filling defects in the right lower lobe segmental pulmonary arteries.\n"
                 "Incidental 1.9 cm irregular left breast mass.",
                 "1. Acute right lower lobe segmental pulmonary embolism.\n"
                 "2. Incidental left breast mass: recommend diagnostic mammogram and breast ultrasound."),
         None, {"pulmonary embolism"}, None, None),
        (_report("multi-neck", "CT SOFT TISSUE NECK W CONTRAST", "CT",
                 "Post chemoradiation for right tonsil carcinoma. Mild diffuse mucosal enhancement at the "
                 "primary site. No residual nodes.\nIncidental 1.8 cm solid hypoechoic right thyroid nodule on CT.",
                 "NI-RADS primary 2a, neck 1.\nIncidental right thyroid nodule: recommend thyroid ultrasound."),
         ("NI-RADS", "2a"), set(), None, None),
        (_report("multi-abd", "MRI ABDOMEN PELVIS W WO CONTRAST", "MR",
                 "Cirrhotic liver. Segment 4 observation 11 mm with arterial hyperenhancement without washout.\n"
                 "Left adnexa: 5.1 cm multilocular cyst with enhancing solid tissue.",
                 "1. LI-RADS LR-3 observation segment 4. Repeat multiphase MRI in 3-6 months.\n"
                 "2. O-RADS MRI 4 left adnexal lesion: gynecologic oncology referral."),
         None, set(), None, None),
        (_report("crlf-mammo", "MG DIAGNOSTIC BILATERAL W TOMO", "MG", CRLF_MAMMO,
                 "Left breast 9 mm oval circumscribed mass, probably benign.\r\nBI-RADS 3: Probably benign. "
                 "Recommend left diagnostic mammogram in 6 months.\r\n",
                 addendum="Outside priors from 2024 received and reviewed.\r\nThe left mass is new compared with "
                          "2024.\r\nRevised assessment: BI-RADS 4A. Ultrasound-guided core biopsy recommended.\r\n"),
         ("BI-RADS", "4A"), set(), None, None),
        (_report("tab-prostate", "MRI PROSTATE MULTIPARAMETRIC", "MR", TAB_PROSTATE,
                 "Left peripheral zone lesion 13 mm,\tPI-RADS 4.\tTargeted biopsy recommended."),
         ("PI-RADS", "4"), set(), None, None),
        (_report("uni-thyroid", "US THYROID", "US",
                 "Right lobe:\u00a0solid markedly hypoechoic nodule 1.2\u00a0×\u00a00.9\u00a0×\u00a00.8\u00a0cm, "
                 "taller\u2011than\u2011wide, with punctate echogenic foci.\nLeft lobe unremarkable.",
                 "ACR TI\u2011RADS TR5 (\u22657 points) right thyroid nodule, 1.2 cm. FNA recommended. "
                 "Discussed with Dr. Zoë Müller-Ødegård \U0001d49c.",
                 history="Palpable nodule; naïve to treatment."),
         ("TI-RADS", "TR5"), set(), None, None),
        (_report("uni-bladder", "MRI PELVIS BLADDER MULTIPARAMETRIC", "MR",
                 "Left lateral wall tumour 3.1 cm; disruption of the low-signal muscularis propria on T2, DWI "
                 "and DCE — extending into perivesical fat.",
                 "VI\u2011RADS 5: muscle invasion very likely with extravesical extension."),
         ("VI-RADS", "5"), set(), None, None),
        (_report("add-nirads", "CT SOFT TISSUE NECK W CONTRAST", "CT",
                 "New baseline after surgery and radiation for left oral tongue carcinoma.\n"
                 "Ill-defined 1.4 cm enhancement at the left tongue base resection bed.",
                 "NI-RADS 0: priors from the outside hospital requested.",
                 addendum="Outside PET/CT 2026-05-02 reviewed.\nThe tongue base enhancement is deep and "
                          "ill-defined, new since then.\nRevised: NI-RADS primary 2b, neck 1. Recommend PET/CT in "
                          "3 months."),
         ("NI-RADS", "2b"), set(), None, None),
        (_report("tab-gb", "US ABDOMEN LIMITED RUQ", "US",
                 "Gallbladder:\tfocal wall thickening 6 mm at the fundus,\tlayered pattern preserved,\t"
                 "no intramural cysts.\nCBD\t4 mm.",
                 "GB-RADS 3: equivocal focal fundal wall thickening.\tRecommend MRI abdomen."),
         ("GB-RADS", "3"), set(), None, None),
        (_report("neg-crit-rads", "CT LUNG CANCER SCREENING LOW DOSE", "CT",
                 "Right middle lobe solid nodule 7 mm, baseline. No pneumothorax. No pulmonary embolism "
                 "on this non-contrast study is assessable.",
                 "Lung-RADS 3. LDCT in 6 months. No pneumothorax."),
         ("Lung-RADS", "3"), set(), None, None),
        (_report("hedged-crit-orads", "US PELVIS TRANSVAGINAL", "US",
                 "Right ovary: 6.4 cm multilocular solid mass with internal flow (color score 4).\n"
                 "Moderate free fluid. Possible free air anterior to the liver on the scout images.",
                 "O-RADS US 5: high risk right adnexal mass. Possible free air; recommend CT abdomen."),
         ("O-RADS", "5"), {"free air"}, None, None),
    ]
}
PIDS = list(PIPELINE)


class _Analysed(dict[str, Analysis]):
    """Each case analysed once, when a test first asks for it (a -k run analyses only what it needs)."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline

    def __missing__(self, rid: str) -> Analysis:
        report = PIPELINE[rid][0]
        tasks = [p.task for p in plan_report(report).tasks if p.task != TaskName.radiology_ner]
        self[rid] = self.pipeline.analyse_sync(report, actor=Actor(id="round8", kind="cli"), tasks=tasks)
        return self[rid]


@pytest.fixture(scope="module")
def analyses(ensemble: Any, tmp_path_factory: pytest.TempPathFactory, settings_for: Any) -> Iterator[dict[str, Analysis]]:
    """The real pipeline (demo GGUF, rules engine, SQLite); NER left out (round 4 covers its output)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('round8') / 'radlite.db'}"
    upgrade(url)
    engine = make_engine(url)
    pipeline = Pipeline(settings_for(url), make_sessionmaker(engine), ensemble)
    try:
        yield _Analysed(pipeline)
    finally:
        pipeline.close()
        engine.dispose()


def _offsets(obs: dict[str, Any]) -> list[tuple[int, int]]:
    out = []
    for ext in obs.get("extension", []):
        if ext["url"] == codes.EXT_DERIVATION_REFERENCE:
            parts = {e["url"]: e for e in ext["extension"]}
            out.append((parts["offset"]["valueInteger"], parts["length"]["valueInteger"]))
    return out


@pytest.mark.parametrize("rid", PIDS)
def test_every_observation_validates_and_every_offset_points_at_its_quote(
    rid: str, analyses: dict[str, Analysis], validate_r4: Any, profile_problems: Any
) -> None:
    analysis = analyses[rid]
    report = analysis.report
    text = report.text()
    observations = observations_for(analysis)
    assert observations
    for obs in observations:
        validate_r4(obs)
        assert r4_rule_problems(obs) == [], obs["code"].get("text")
        [profile] = obs["meta"]["profile"]
        assert profile in PROFILE_URLS and profile_problems(obs) == [], profile
        assert obs["status"] == "preliminary" and codes.AIAST in obs["meta"]["security"]
        notes = " ".join(n["text"] for n in obs.get("note", []))
        assert DEMO_NOTICE in notes and DEMO_NOTICE in obs["text"]["div"]
        for offset, length in _offsets(obs):
            assert 0 <= offset and offset + length <= len(text)
            quoted = " ".join(text[offset:offset + length].split())
            assert quoted and f'"{quoted}' in notes, (quoted, notes[:300])
        [device] = [e["valueReference"] for e in obs["performer"][0]["extension"]
                    if e["url"] == codes.EXT_ALTERNATE_REFERENCE]
        assert device["identifier"]["value"]  # the model file's sha256, or the rules engine's id
    assert all("\r" not in json.dumps(o) and "\t" not in json.dumps(o).replace("\\t", "") for o in observations)


@pytest.mark.parametrize("rid", PIDS)
def test_every_card_follows_cds_hooks_2(rid: str, analyses: dict[str, Analysis], validate_r4: Any) -> None:
    analysis = analyses[rid]
    cards = _cards(analysis)
    body = wire(CdsResponse(cards=cards))
    assert empty_paths(body) == []
    seen: set[str] = set()
    for card in body["cards"]:
        assert card_problems(card, demo=True) == [], card["summary"]
        assert ("suggestions" in card) == ("selectionBehavior" in card), "selectionBehavior only with suggestions"
        assert card["source"]["topic"]["system"].startswith("http") and card["source"]["topic"]["display"]
        ids = [card["uuid"], *[s["uuid"] for s in card.get("suggestions", [])]]
        assert not (set(ids) & seen) and len(set(ids)) == len(ids), "uuids are unique in the response"
        seen.update(ids)
        codes_ = [r["code"] for r in card.get("overrideReasons", [])]
        assert len(set(codes_)) == len(codes_)
        assert "\r" not in card["summary"] and "\t" not in card["summary"]
        for s in card.get("suggestions", []):
            for a in s["actions"]:
                if a.get("resource"):
                    validate_r4(a["resource"])
                    assert r4_rule_problems(a["resource"]) == []
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert [rank[c["indicator"]] for c in body["cards"]] == sorted(rank[c["indicator"]] for c in body["cards"])


@pytest.mark.parametrize("rid", [r for r in PIDS if PIPELINE[r][1]])
def test_the_stated_category_is_read_coded_and_carded(rid: str, analyses: dict[str, Analysis]) -> None:
    _, (system, category), *_ = PIPELINE[rid]  # type: ignore[misc]
    analysis = analyses[rid]
    result = analysis.result(TaskName.rads_assignment)
    assert result is not None and isinstance(result.value, RadsValue)
    assert (result.value.system, result.value.category) == (system, category), result.value
    assert result.decided_by in ("rules", "model+rules")
    text = analysis.report.text()
    for ev in result.evidence:
        assert ev.start is not None and ev.end is not None
        assert " ".join(text[ev.start:ev.end].split()) == " ".join(ev.sentence.split())
    assert any(category.replace("LR-", "") in ev.sentence or category in ev.sentence.replace("\u2011", "-")
               for ev in result.evidence), [ev.sentence for ev in result.evidence]
    [card] = _topic(_cards(analysis), "rads")
    expected = "warning" if next(r["Card"] for r in SPEC_ROWS[(system, category)]).startswith("warning") else "info"
    if system == "TI-RADS":
        expected = "warning"  # TR5 at 1.2 cm: FNA size
    assert card.indicator == expected and result.value.label in card.summary
    assert category in (card.detail or "")


@pytest.mark.parametrize("rid", [r for r in PIDS if PIPELINE[r][2]])
def test_a_critical_result_leads_and_keeps_the_other_cards(rid: str, analyses: dict[str, Analysis]) -> None:
    report, rads, terms, n, m = PIPELINE[rid]
    analysis = analyses[rid]
    assert {c.term for c in analysis.facts.critical} == terms
    cards = _cards(analysis)
    assert cards[0].indicator == "critical" and _topic(cards, "critical") == [cards[0]]
    assert all(t in cards[0].summary for t in terms)
    if rads:
        [rads_card] = _topic(cards, "rads")
        assert rads_card.indicator != "critical" and rads[1] in rads_card.summary
    obs = observations_for(analysis)
    crit = [o for o in obs if o.get("interpretation") == [codes.CRITICAL_INTERPRETATION]]
    assert len(crit) == len(terms)


@pytest.mark.parametrize("rid", [r for r in PIDS if PIPELINE[r][3] or PIPELINE[r][4]])
def test_staging_beside_rads_and_critical_on_one_report(rid: str, analyses: dict[str, Analysis]) -> None:
    _, rads, _, n, m = PIPELINE[rid]
    analysis = analyses[rid]
    nres, mres = analysis.result(TaskName.n_staging), analysis.result(TaskName.m_staging)
    if n:
        assert nres is not None and isinstance(nres.value, NStageValue) and nres.value.stage == n
    if m:
        assert mres is not None and isinstance(mres.value, MStageValue) and mres.value.stage == m
    cards = _cards(analysis)
    [staging] = _topic(cards, "staging")
    assert all(s in staging.summary for s in (n, m) if s)
    if rads:
        assert _topic(cards, "rads")
    obs = {o["code"]["text"]: o for o in observations_for(analysis)}
    assert any(n and f"c{n}" in json.dumps(o) for o in obs.values()) or not n
    assert any(m and f"c{m}" in json.dumps(o) for o in obs.values()) or not m


@pytest.mark.parametrize(("impression", "stage"), [
    ("Rectal primary. No distant metastases, M0.", "M0"),
    ("Rectal primary. No distant metastatic disease, M0.", "M0"),
    ("Rectal primary. Hepatic metastases, M1b.", "M1"),
    ("Rectal primary. No distant metastases, M1.", None),  # the words deny what the bare stage would grade
    ("Rectal primary. Possible hepatic metastases, M1.", None),  # suspected: the model decides
])
def test_a_bare_m_stage_after_the_metastases_it_grades_is_read(impression: str, stage: str | None) -> None:
    report = _report("m0comma", "CT CHEST ABDOMEN PELVIS W CONTRAST", "CT", "Rectal wall thickening.", impression)
    stated = RulesEngine().stated(TaskRequest(task=TaskName.m_staging, report=report))
    got = stated.value.stage if stated is not None and stated.decided_by == "rules" else None  # type: ignore[union-attr]
    assert got == stage


def test_two_systems_on_one_report_lose_neither_recommendation(analyses: dict[str, Analysis]) -> None:
    """The exam's system is carded; the other system's recommendation is still shown (the report's words)."""
    for rid, other in (("multi-abd", "gynecologic oncology"), ("multi-neck", "thyroid ultrasound")):
        analysis = analyses[rid]
        cards = _cards(analysis)
        shown = " ".join((c.summary + " " + (c.detail or "")) for c in cards).lower()
        assert other in shown, (rid, [c.summary for c in cards])


def test_a_category_revised_in_an_addendum_is_the_one_carded(analyses: dict[str, Analysis]) -> None:
    analysis = analyses["crlf-mammo"]
    [card] = _topic(_cards(analysis), "rads")
    assert "BI-RADS 4A" in card.summary and card.indicator == "warning"
    [sr] = _resources(card, "ServiceRequest")
    assert "biopsy" in sr["code"]["text"].lower()
    assert "BI-RADS 3" not in card.summary
    result = analysis.result(TaskName.rads_assignment)
    text = analysis.report.text()
    assert result is not None and any(ev.start is not None and ev.start > text.index("ADDENDUM:")
                                      for ev in result.evidence)


def test_unicode_survives_into_the_card_and_observation(analyses: dict[str, Analysis]) -> None:
    analysis = analyses["uni-thyroid"]
    [card] = _topic(_cards(analysis), "rads")
    assert "TR5" in card.summary
    [sr] = _resources(card, "ServiceRequest")
    assert sr["code"]["text"] == "US-guided thyroid FNA"
    result = analysis.result(TaskName.rads_assignment)
    assert result is not None
    [obs] = [o for o in observations_for(analysis) if o["code"]["text"] == observations_for(analysis)[0]["code"]["text"]]
    notes = " ".join(n["text"] for n in obs["note"])
    assert "≥7" in notes or "TR5" in notes


def test_days_from_the_exam_are_counted_from_its_local_date() -> None:
    """An exam late in the evening west of UTC: the order date counts from the exam's own calendar day."""
    late = EXAM.replace(hour=22, minute=50)
    report = _report("late", "CT CHEST LUNG CANCER SCREENING LOW DOSE", "CT", "Solid nodule 7 mm, baseline.",
                     "Lung-RADS 3. LDCT in 6 months.", effective=late, issued=late + timedelta(hours=1))
    result = RulesEngine().stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    assert result is not None
    analysis = Analysis(report=report, manifest_version="r8", results=[result], facts=ReportFacts())
    [card] = _topic(_cards(analysis), "rads")
    [sr] = _resources(card, "ServiceRequest")
    assert sr["occurrenceDateTime"] == add_duration(date(2026, 9, 3), "P6M").isoformat()


# ---- 4. every recommendation of the report reaches a card ------------------------------------------------

MANY_RECS = {
    "lr3": ("MRI ABDOMEN LIVER W WO CONTRAST", "MR", "Cirrhosis. Segment 4 observation 11 mm with arterial "
            "hyperenhancement.", "1. LI-RADS LR-3 observation segment 4. Repeat multiphase MRI in 3 months."),
    "bi4a": ("US BREAST LEFT", "US", "Left breast 2 o'clock 8 mm irregular hypoechoic mass.",
             "1. BI-RADS 4A left breast mass. Ultrasound-guided core biopsy recommended."),
    "none": ("CT ABDOMEN PELVIS W CONTRAST", "CT", "Colonic diverticulosis without diverticulitis.",
             "1. Diverticulosis."),
}
EXTRA_RECS = ("2. Indeterminate right renal lesion: recommend renal ultrasound in 6 months.\n"
              "3. Incidental 9 mm pancreatic cyst: recommend MRCP in 12 months.\n"
              "4. Right adnexal cyst 4 cm: recommend pelvic ultrasound in 8 weeks.\n"
              "5. Thyroid nodule on the scout images: recommend thyroid ultrasound.")


@pytest.mark.parametrize("case", list(MANY_RECS))
def test_every_recommendation_of_the_report_reaches_a_card(case: str, validate_r4: Any) -> None:
    procedure, modality, findings, impression = MANY_RECS[case]
    report = _report(f"recs-{case}", procedure, modality, findings, impression + "\n" + EXTRA_RECS)
    engine = RulesEngine()
    facts = engine.facts(report)
    assert len([f for f in facts.follow_ups if f.text.strip()]) >= 4
    rads = engine.stated(TaskRequest(task=TaskName.rads_assignment, report=report))
    results = [rads] if rads is not None and isinstance(rads.value, RadsValue) and rads.value.category else []
    analysis = Analysis(report=report, manifest_version="r8", results=results, facts=facts)
    cards = _cards(analysis)
    r7_check_cards(cards, demo=False, validate_r4=validate_r4)
    shown = " ".join(c.summary + " " + (c.detail or "") for c in cards).replace("\\", "")
    for f in facts.follow_ups:
        assert " ".join(f.text.split()) in shown, f"lost: {f.text}"


# ---- 5. the same reports read by the rules engine alone: offsets, codes, cards ---------------------------


@pytest.mark.parametrize("rid", PIDS)
def test_rules_only_outputs_point_at_the_text_and_validate(rid: str, validate_r4: Any, profile_problems: Any) -> None:
    """What the rules state (RADS, N, M, chest labels, temporal, critical, follow-ups) without any model:
    every offset lands on its sentence in RadiologyReport.text(), whatever the line ends, tabs or Unicode."""
    report = PIPELINE[rid][0]
    engine = RulesEngine()
    results = [r for t in (TaskName.rads_assignment, TaskName.n_staging, TaskName.m_staging,
                           TaskName.abnormality_detection, TaskName.temporal_comparison)
               if (r := engine.stated(TaskRequest(task=t, report=report))) is not None]
    analysis = Analysis(report=report, manifest_version="r8", results=results, facts=engine.facts(report))
    text = report.text()
    assert "\r" not in text and "\t" not in text
    for obs in observations_for(analysis):
        validate_r4(obs)
        assert r4_rule_problems(obs) == [] and profile_problems(obs) == []
        notes = " ".join(n["text"] for n in obs.get("note", []))
        assert DEMO_NOTICE not in notes and "tag" not in obs["meta"]
        for offset, length in _offsets(obs):
            quoted = " ".join(text[offset:offset + length].split())
            assert quoted and f'"{quoted}' in notes, (quoted, notes[:300])
    cards = _cards(analysis)
    r7_check_cards(cards, demo=False, validate_r4=validate_r4)
    for c in cards:
        assert card_problems(wire(CdsResponse(cards=[c]))["cards"][0], demo=False) == []
    expected = PIPELINE[rid][1]
    rads = next((r.value for r in results if isinstance(r.value, RadsValue)), None)
    if expected:
        assert rads is not None and (rads.system, rads.category) == expected
    assert {c.term for c in analysis.facts.critical} == PIPELINE[rid][2]
