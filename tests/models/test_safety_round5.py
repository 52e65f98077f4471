"""Clinical safety round 5: unseen reports through the real pipeline, every result held to the rules.

Fifteen reports written for this file (six RADS systems plus a category an addendum replaces, staging, chest films, and the odd shapes
hospitals really send: "Normal.", no headings, only an impression, ALL CAPS, a report longer than the
model's context, accents, µ, ±, ≥ and Greek, an addendum that reverses the impression) are analysed
once each by the real Pipeline (the demo GGUF + rules engine + grounding, SQLite), and every
TaskResult of every analysis is checked against the product's standards:

- evidence: report sentences that occur in the report text, at their offsets;
- who answered: the model id and file sha256, or the rules engine's id and version; confidence in [0, 1];
- demo: everything the demo model took part in is marked demo, and so is every analysis;
- an explicit statement (RADS category, N/M stage, negated finding, critical finding) wins, and a
  model that answered otherwise is kept as a visible disagreement;
- no finding the report does not contain, no negated CheXpert label positive, no change read into a
  report that compares nothing;
- nothing crashes; a report beyond n_ctx fails its model-only tasks with a clear error in
  Analysis.errors while the values the report states still stand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from models.grounding import ground, mentioned_labels, negated_phrases, polarity
from models.rules.chexpert import label_report_text
from models.types import (
    Analysis,
    ChexpertValue,
    EntitiesValue,
    Evidence,
    ModelIdentity,
    MStageValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    TaskName,
    TaskResult,
    TemporalValue,
    TextValue,
)
from plugin.pipeline import Actor, Pipeline
from plugin.planner import compares_with_prior, plan_report
from plugin.storage.db import make_engine, make_sessionmaker, upgrade

EXAM = datetime(2026, 6, 2, 14, 5, tzinfo=UTC)


def _report(rid: str, modality: str | None, procedure: str | None, findings: str | None,
            impression: str | None, **kw: Any) -> RadiologyReport:
    return RadiologyReport(report_id=rid, patient_id=f"pt-{rid}", accession=f"S5-{rid.upper()}", modality=modality,
                           procedure=procedure, effective=EXAM, findings=findings, impression=impression, **kw)


LONG_FINDINGS = "\n".join(
    f"Image {i}: scattered fibroglandular tissue, no suspicious mass, calcification or architectural distortion "
    f"in this quadrant of either breast on tomosynthesis slice {i}." for i in range(1, 120)
)

REPORTS: list[RadiologyReport] = [
    _report("bi4b", "US", "US BREAST RIGHT DIAGNOSTIC",
            "Right breast 7 o'clock, 4 cm from the nipple: 9 x 7 x 8 mm oval hypoechoic mass with indistinct "
            "margins, not parallel to the skin. No axillary lymphadenopathy.",
            "Indeterminate right breast mass at 7 o'clock. BI-RADS 4B: moderate suspicion for malignancy. "
            "Ultrasound-guided core needle biopsy is recommended."),
    _report("cxr_add", "CR", "XR CHEST PA",
            "Indication: dyspnea after line placement.\n"
            "Thin pleural line at the right apex with no lung markings beyond it. Right internal jugular central "
            "venous catheter tip in the lower superior vena cava. No pleural effusion. Heart size normal.",
            "Small right apical pneumothorax.",
            addendum="After review with the lateral view and the prior film, the apical line is a skin fold. "
                     "There is no pneumothorax. Discussed with the ordering team."),
    _report("pi5", "MR", "MRI PROSTATE W WO CONTRAST",
            "Clinical history: PSA 11.4 ng/mL, rising. Prostate volume 48 mL (PSA density 0.24).\n"
            "Left peripheral zone posterolateral mid gland: 1.7 cm lesion, markedly hypointense on T2, ADC "
            "580 µm²/s, focal intense early enhancement. Abutment of the capsule without gross extraprostatic "
            "extension. Seminal vesicles normal. No pelvic lymphadenopathy. No suspicious bone lesion.",
            "PI-RADS 5 lesion in the left peripheral zone mid gland. Targeted biopsy recommended."),
    _report("lr5caps", "CT", "CT ABDOMEN LIVER PROTOCOL (TRIPHASIC)",
            "HISTORY: CIRRHOSIS, HEPATITIS C. SURVEILLANCE.\n"
            "LIVER: NODULAR CONTOUR. SEGMENT 7 OBSERVATION MEASURING 2.6 CM WITH NONRIM ARTERIAL PHASE "
            "HYPERENHANCEMENT, NONPERIPHERAL WASHOUT AND AN ENHANCING CAPSULE. PORTAL VEIN PATENT.\n"
            "SPLEEN: 14 CM. SMALL VOLUME ASCITES.",
            "1. SEGMENT 7 OBSERVATION, LR-5 (DEFINITELY HCC).\n2. CIRRHOSIS WITH SPLENOMEGALY AND ASCITES."),
    _report("orads_imp", "US", "US PELVIS TRANSVAGINAL", None,
            "Left ovary: 4.2 cm unilocular cyst with smooth walls and no solid component, no internal flow. "
            "O-RADS US 2, almost certainly benign. Premenopausal patient; no follow-up needed."),
    _report("cad3", "CT", "CT CORONARY ANGIOGRAPHY",
            "Calcium score 214 (Agatston). Left main: no stenosis. LAD: mixed plaque in the proximal segment "
            "with 50-69% stenosis. LCx and RCA: minimal plaque, less than 25% stenosis. No high-risk plaque "
            "features.",
            "Moderate proximal LAD stenosis. CAD-RADS 3/P2. Consider functional testing."),
    _report("vi4", "MR", "MRI PELVIS BLADDER MULTIPARAMETRIC",
            "Indication: newly diagnosed bladder cancer on cystoscopy, staging.\n"
            "Posterior bladder wall 2.8 cm sessile tumor. The low signal muscularis propria line is interrupted "
            "on T2 and DWI with early enhancement extending into the muscle. No perivesical fat stranding. "
            "No pelvic lymphadenopathy. No bone metastases.",
            "Posterior wall bladder tumor with muscle invasion, VI-RADS 4. No nodal or distant metastatic disease."),
    _report("stage_lung", "CT", "CT CHEST ABDOMEN PELVIS WITH CONTRAST FOR STAGING",
            "History: newly diagnosed adenocarcinoma of the right upper lobe, staging.\n"
            "Right upper lobe spiculated mass 3.8 cm. Enlarged right paratracheal (2.1 cm short axis) and "
            "subcarinal (1.6 cm) lymph nodes. Two hypoattenuating liver lesions, the largest 1.9 cm in segment "
            "6, new and consistent with metastases. Adrenal glands normal.",
            "Right upper lobe primary with ipsilateral mediastinal and subcarinal nodal disease (N2) and "
            "hepatic metastases (M1)."),
    _report("cxr_neg", "CR", "XR CHEST PA AND LATERAL",
            "Indication: cough and fever.\n"
            "Right lower lobe airspace consolidation. No pleural effusion. No pneumothorax. Heart size is "
            "normal. No acute osseous abnormality.",
            "Right lower lobe pneumonia. No pneumothorax or effusion."),
    _report("cxr_crit", "DX", "XR CHEST PORTABLE AP",
            "Comparison: radiograph from earlier today.\n"
            "New large right pneumothorax with leftward mediastinal shift, compatible with tension "
            "pneumothorax. Right chest tube has been removed. Left lung clear.",
            "Large right tension pneumothorax, new since the earlier radiograph. Findings discussed with "
            "Dr. Okafor at 14:20 by telephone."),
    _report("normal", "CR", "XR CHEST 1 VIEW", "Normal.", None),
    _report("noheads", "MR", None,
            "MRI brain without contrast. Comparison none. There is no acute infarct on diffusion weighted imaging. "
            "No intracranial hemorrhage or mass effect. Ventricles and sulci are normal for age. A few scattered "
            "T2 hyperintense foci in the periventricular white matter, nonspecific, most likely chronic small "
            "vessel ischemic change.",
            None),
    _report("intl", "CT", "CT THORAX – BILAN D'EXTENSION (ΣTAGING)",
            "Histoire: carcinome épidermoïde, biopsy-proven squamous cell carcinoma of the left lower lobe, "
            "staging.\n"
            "Left lower lobe mass 4.6 ± 0.2 cm (SUV unavailable). Hilar node on the left 1.3 cm (≥ 1 cm short "
            "axis). No mediastinal adenopathy. No pleural effusion. No distant metastases; the α-fetoprotein "
            "history is unrelated. Naïve patient, no prior imaging for comparison.",
            "Left lower lobe carcinoma with ipsilateral hilar nodal involvement, N1. M0."),
    _report("long_bi2", "MG", "MG DIAGNOSTIC BILATERAL WITH TOMOSYNTHESIS", LONG_FINDINGS,
            "Benign-appearing stable calcified fibroadenoma in the left breast. BI-RADS 2: benign. "
            "Routine annual screening mammography."),
    _report("addendum", "CT", "CT CHEST LOW DOSE LUNG CANCER SCREENING",
            "Baseline screening. Right lower lobe nodule measuring 5 mm, solid. No other nodules. "
            "No lymphadenopathy.",
            "Lung-RADS 2: benign appearance or behavior. Annual LDCT in 12 months.",
            addendum="On second review, the right lower lobe nodule is part-solid with a 7 mm solid component "
                     "(total diameter 12 mm). The assessment is changed to Lung-RADS 4A. Recommend LDCT in 3 "
                     "months. Dr. Lindqvist was notified."),
]
BY_ID = {r.report_id: r for r in REPORTS}

# Explicit statements the result must carry (decided by the rules, whatever the model says).
STATED_RADS: dict[str, tuple[str, str]] = {
    "bi4b": ("BI-RADS", "4B"), "pi5": ("PI-RADS", "5"), "lr5caps": ("LI-RADS", "LR-5"),
    "orads_imp": ("O-RADS", "2"), "cad3": ("CAD-RADS", "3"), "vi4": ("VI-RADS", "4"),
    "long_bi2": ("BI-RADS", "2"), "addendum": ("Lung-RADS", "4A"),
}
STATED_N: dict[str, str] = {"stage_lung": "N2", "intl": "N1"}
STATED_M: dict[str, str] = {"stage_lung": "M1", "intl": "M0"}
# CheXpert labels the report explicitly negates: never positive (or uncertain) in the result.
NEGATED: dict[str, set[str]] = {"cxr_neg": {"pleural effusion", "pneumothorax", "fracture"},
                                 "cxr_add": {"pneumothorax", "pleural effusion"}}
CRITICAL: dict[str, str] = {"cxr_crit": "pneumothorax"}
# NER is 256 generated tokens on every report and the slowest task on the demo model: it runs on these
# (negations, Unicode, ALL CAPS, no headings, the long report) and the rest run the plan without it.
WITH_NER = {"cxr_neg", "intl", "lr5caps", "noheads", "long_bi2", "normal"}
# A temporal comparison asked for on a report that compares nothing: nothing may be read into it.
FORCED_TEMPORAL = {"noheads"}


@pytest.fixture(scope="module")
def analyses(ensemble: Any, tmp_path_factory: pytest.TempPathFactory, settings_for: Any) -> dict[str, Analysis]:
    """Every report analysed once by the real pipeline (demo GGUF, rules engine, grounding, SQLite)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('safety5') / 'radlite.db'}"
    upgrade(url)
    engine = make_engine(url)
    pipeline = Pipeline(settings_for(url), make_sessionmaker(engine), ensemble)
    out: dict[str, Analysis] = {}
    try:
        for report in REPORTS:
            rid = report.report_id
            tasks = [p.task for p in plan_report(report).tasks if rid in WITH_NER or p.task != TaskName.radiology_ner]
            if rid in FORCED_TEMPORAL:
                tasks.append(TaskName.temporal_comparison)
            out[rid] = pipeline.analyse_sync(report, actor=Actor(id="safety5", kind="cli"), tasks=tasks)
        return out
    finally:
        pipeline.close()
        engine.dispose()


IDS = [r.report_id for r in REPORTS]


def _result(analysis: Analysis, task: TaskName) -> TaskResult:
    result = analysis.result(task)
    assert result is not None, (analysis.report.report_id, task, analysis.errors)
    return result


# ---- every result ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", IDS)
def test_analysis_completes_and_is_marked_demo(rid: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[rid]
    assert not analysis.pending
    assert analysis.demo, "the packaged manifest serves the demo model: the analysis is demo"
    if rid != "long_bi2":
        assert not analysis.errors, analysis.errors
    assert analysis.results


@pytest.mark.parametrize("rid", IDS)
def test_every_result_has_located_evidence_identity_and_confidence(rid: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[rid]
    text = analysis.report.text()
    for result in analysis.results:
        where = (rid, result.task.value)
        assert result.evidence, where
        for ev in result.evidence:
            assert ev.sentence and ev.sentence in text, (where, ev.sentence)
            if ev.start is not None or ev.end is not None:
                assert text[ev.start : ev.end] == ev.sentence, (where, ev)
        assert 0.0 <= result.confidence <= 1.0
        who = result.model
        assert who.model_id
        if who.backend == "rules":
            assert who.version and who.sha256 is None, where
        else:
            assert re.fullmatch(r"[0-9a-f]{64}", who.sha256 or ""), where
            assert result.prompt_hash, where
        if result.disagreement is not None:
            other = result.disagreement.model
            assert other is not None and re.fullmatch(r"[0-9a-f]{64}", other.sha256 or ""), where


@pytest.mark.parametrize("rid", IDS)
def test_demo_model_output_is_marked_demo(rid: str, analyses: dict[str, Analysis]) -> None:
    for result in analyses[rid].results:
        model_took_part = result.model.backend != "rules" or result.disagreement is not None
        if model_took_part:
            assert result.demo, (rid, result.task.value)
        else:  # the rules alone answered: only a model's failure (recorded) may explain that
            assert result.decided_by == "rules"


@pytest.mark.parametrize("rid", IDS)
def test_a_model_overridden_by_the_report_is_never_silent(rid: str, analyses: dict[str, Analysis]) -> None:
    """Wherever the rules decided after a model ran, the model's answer is visible (or its failure noted)."""
    for result in analyses[rid].results:
        if result.decided_by == "rules" and result.prompt_hash:
            assert result.disagreement is not None, (rid, result.task.value)
            assert result.disagreement.model_value and result.disagreement.note
        if result.decided_by == "rules" and not result.prompt_hash:
            assert result.note, (rid, result.task.value)  # why no model answer is there


# ---- explicit statements win -------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", list(STATED_RADS))
def test_stated_rads_category_wins(rid: str, analyses: dict[str, Analysis]) -> None:
    result = _result(analyses[rid], TaskName.rads_assignment)
    assert isinstance(result.value, RadsValue)
    assert (result.value.system, result.value.category) == STATED_RADS[rid]
    assert result.decided_by in ("rules", "model+rules")
    if result.decided_by == "rules" and result.prompt_hash:
        assert result.disagreement.rules_value.startswith(result.value.label)


def test_the_addendum_category_replaces_the_impression_one(analyses: dict[str, Analysis]) -> None:
    result = _result(analyses["addendum"], TaskName.rads_assignment)
    assert result.value.label == "Lung-RADS 4A"
    assert any("4A" in ev.sentence for ev in result.evidence)
    assert not any(ev.sentence.startswith("Lung-RADS 2") for ev in result.evidence)


def test_cad_rads_modifier_is_kept(analyses: dict[str, Analysis]) -> None:
    result = _result(analyses["cad3"], TaskName.rads_assignment)
    assert result.value.full_label == "CAD-RADS 3/P2"


@pytest.mark.parametrize("rid", list(STATED_N))
def test_stated_n_and_m_stages_win(rid: str, analyses: dict[str, Analysis]) -> None:
    n = _result(analyses[rid], TaskName.n_staging)
    m = _result(analyses[rid], TaskName.m_staging)
    assert isinstance(n.value, NStageValue) and isinstance(m.value, MStageValue)
    assert n.value.involvement and n.value.stage == STATED_N[rid]
    assert m.value.stage == STATED_M[rid]
    assert {n.decided_by, m.decided_by} <= {"rules", "model+rules"}


def test_negated_findings_are_never_positive(analyses: dict[str, Analysis]) -> None:
    for rid, negated in NEGATED.items():
        result = _result(analyses[rid], TaskName.abnormality_detection)
        assert isinstance(result.value, ChexpertValue)
        for label in negated:
            assert result.value.labels.get(label, "negative") == "negative", (rid, label)
    cxr_neg = _result(analyses["cxr_neg"], TaskName.abnormality_detection).value.labels
    assert cxr_neg["consolidation"] == "positive" and cxr_neg["no finding"] == "negative"
    # A catheter and a retracted pneumothorax: a device is no pathology, so "no finding" holds (CheXpert).
    cxr_add = _result(analyses["cxr_add"], TaskName.abnormality_detection).value.labels
    assert cxr_add["support devices"] == "positive" and cxr_add["no finding"] == "positive"


def test_an_addendum_that_retracts_a_critical_finding_wins(analyses: dict[str, Analysis]) -> None:
    """cxr_add: the impression's pneumothorax is retracted by the addendum: no critical result is raised."""
    assert not any("pneumothorax" in c.term for c in analyses["cxr_add"].facts.critical)


def test_stated_critical_finding_is_reported(analyses: dict[str, Analysis]) -> None:
    for rid, term in CRITICAL.items():
        facts = analyses[rid].facts
        assert any(term in c.term and c.certainty == "definite" for c in facts.critical), (rid, facts.critical)
        assert all(ev.sentence in analyses[rid].report.text() for c in facts.critical for ev in c.evidence)
        labels = _result(analyses[rid], TaskName.abnormality_detection).value.labels
        assert labels["pneumothorax"] == "positive"


# ---- nothing invented --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", IDS)
def test_no_chexpert_label_the_report_negates_or_omits(rid: str, analyses: dict[str, Analysis]) -> None:
    result = analyses[rid].result(TaskName.abnormality_detection)
    if result is None:
        return
    text = analyses[rid].report.text()
    named = mentioned_labels(text)
    stated = label_report_text(text).labels
    for label, state in result.value.labels.items():
        if label == "no finding" or state == "negative":
            continue
        assert label in named, (rid, label, state)
        assert stated.get(label) != "negative", (rid, label, "the report negates it")


@pytest.mark.parametrize("rid", sorted(WITH_NER))
def test_entities_are_report_words_and_negations_are_absent(rid: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[rid]
    result = analysis.result(TaskName.radiology_ner)
    if rid == "long_bi2":
        assert result is None and "radiology_ner" in analysis.errors
        return
    assert result is not None and isinstance(result.value, EntitiesValue)
    words = set(re.findall(r"[a-z0-9]+", analysis.report.text().lower()))
    value = result.value
    for item in [*value.anatomy, *value.present, *value.absent, *value.uncertain, *value.changes]:
        content = [w for w in re.findall(r"[a-z0-9]+", item.lower()) if len(w) > 3]
        assert not content or any(any(r.startswith(w[:4]) for r in words) for w in content), (rid, item)
    for item in [*value.present, *value.uncertain, *value.changes]:
        assert not re.match(r"\s*(?:no|without|negative for)\b", item, re.IGNORECASE), (rid, item)
        assert polarity(item, analysis.report.text()) != {"negated"}, (rid, item, "the report negates it")
    for item in value.absent:
        assert polarity(item, analysis.report.text()) != {"affirmed"}, (rid, item, "the report states it present")


@pytest.mark.parametrize("rid", IDS)
def test_no_change_is_read_into_a_report_that_compares_nothing(rid: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[rid]
    report = analysis.report
    result = analysis.result(TaskName.temporal_comparison)
    if compares_with_prior(report) or report.prior_text:
        return
    assert TaskName.temporal_comparison not in plan_report(report).names
    if result is not None:
        assert isinstance(result.value, TemporalValue)
        assert result.value.changes == [], (rid, result.value.changes)


def test_the_critical_comparison_keeps_its_new_finding(analyses: dict[str, Analysis]) -> None:
    result = _result(analyses["cxr_crit"], TaskName.temporal_comparison)
    assert any(c.change == "new" and "pneumothorax" in c.finding.lower() for c in result.value.changes)
    assert not any(c.change != "new" and "pneumothorax" in c.finding.lower() for c in result.value.changes)


@pytest.mark.parametrize("rid", ["normal", "noheads"])
def test_generated_impression_inventions_are_named(rid: str, analyses: dict[str, Analysis]) -> None:
    """A generated impression stays, but a finding it asserts that the report lacks is noted."""
    result = _result(analyses[rid], TaskName.impression_generation)
    assert isinstance(result.value, TextValue) and result.demo
    said = {k for k, v in label_report_text(result.value.text).labels.items()
            if k != "no finding" and v in ("positive", "uncertain")}
    invented = sorted(said - mentioned_labels(analyses[rid].report.text()))
    if invented:
        assert result.note and all(k in result.note for k in invented), (rid, invented, result.note)


# ---- odd shapes --------------------------------------------------------------------------------------------


def test_a_report_beyond_the_context_fails_clearly_and_its_statement_stands(analyses: dict[str, Analysis]) -> None:
    analysis = analyses["long_bi2"]
    assert "n_ctx" in analysis.errors.get("radiology_ner", ""), analysis.errors
    rads = _result(analysis, TaskName.rads_assignment)
    assert rads.value.label == "BI-RADS 2" and rads.decided_by == "rules"
    assert rads.note and "n_ctx" in rads.note
    assert analysis.demo


def test_odd_shapes_plan_sensibly() -> None:
    assert TaskName.impression_generation in plan_report(BY_ID["normal"]).names
    assert TaskName.radiology_nli not in plan_report(BY_ID["orads_imp"]).names  # nothing to test it against
    assert TaskName.temporal_comparison in plan_report(BY_ID["cxr_crit"]).names
    assert TaskName.abnormality_detection in plan_report(BY_ID["cxr_neg"]).names
    assert {TaskName.n_staging, TaskName.m_staging} <= set(plan_report(BY_ID["intl"]).names)


@pytest.mark.parametrize("rid", ["normal", "noheads"])
def test_generated_impression_reversals_are_named(rid: str, analyses: dict[str, Analysis]) -> None:
    """A generated impression that negates what the report states (or states what it negates) says so."""
    result = _result(analyses[rid], TaskName.impression_generation)
    text = analyses[rid].report.text()
    reversed_ = [p for p in negated_phrases(result.value.text) if polarity(p, text) == {"affirmed"}]
    reversed_ += [p for p in negated_phrases(text) if polarity(p, result.value.text) == {"affirmed"}]
    for phrase in reversed_:
        assert result.note and phrase in result.note, (rid, phrase, result.note)


# ---- grounding on the shapes the demo model printed for these reports (typed, no model run) -----------------

DEMO_ID = ModelIdentity(model_id="demo", sha256="5" * 64, backend="llama_cpp", role="extraction", demo=True)


def _typed(task: TaskName, value: Any) -> TaskResult:
    return TaskResult(task=task, value=value, confidence=0.3, model=DEMO_ID, prompt_hash="p")


def test_an_invented_negation_of_a_stated_finding_is_left_out() -> None:
    """cxr_neg: the demo model printed 'No airspace consolidation' for a report that states one."""
    value = EntitiesValue(anatomy=["right lower lobe"], present=["pleural effusion", "airspace consolidation"],
                          absent=["No airspace consolidation", "No pneumothorax"],
                          changes=["No osseous abnormality"])
    out = ground(_typed(TaskName.radiology_ner, value), BY_ID["cxr_neg"])
    assert out.value.absent == ["No pneumothorax", "pleural effusion", "No osseous abnormality"]
    assert out.value.changes == []
    assert out.value.present == ["airspace consolidation"]
    assert "No airspace consolidation" in (out.note or "") and "moved to absent: pleural effusion" in (out.note or "")


def test_repeated_words_do_not_ground_an_entity() -> None:
    """intl: 'Histoire de histoire de histoire, histom' is one report word repeated plus an invented one."""
    value = EntitiesValue(anatomy=["Histoire de histoire de histoire, histom", "left lower lobe"])
    out = ground(_typed(TaskName.radiology_ner, value), BY_ID["intl"])
    assert out.value.anatomy == ["left lower lobe"]


def test_a_generated_impression_negating_a_described_finding_is_flagged() -> None:
    """noheads: the demo model wrote 'No scattered T2 hyperintense foci' for a report describing them."""
    text = ("No acute infarct. No scattered T2 hyperintense foci in the periventricular white matter. "
            "Intracranial hemorrhage.")
    out = ground(_typed(TaskName.impression_generation, TextValue(text=text)), BY_ID["noheads"])
    assert out.value.text == text  # flagged, not cut
    note = out.note or ""
    assert "contradicts the report" in note and "scattered T2 hyperintense foci" in note
    assert "intracranial hemorrhage" in note and "acute infarct" not in note


def test_every_grounded_result_quotes_the_report() -> None:
    """An empty NER answer, and evidence the model side could not locate, still rest on located sentences."""
    report = BY_ID["normal"]
    text = report.text()
    for value in (EntitiesValue(), TextValue(text="A positive clinical impression.")):
        task = TaskName.radiology_ner if isinstance(value, EntitiesValue) else TaskName.impression_generation
        out = ground(_typed(task, value).model_copy(update={"evidence": [Evidence(sentence="Normal")]}), report)
        assert out.evidence and all(text[e.start : e.end] == e.sentence for e in out.evidence)
        assert [e.sentence for e in out.evidence] == ["Normal."]
