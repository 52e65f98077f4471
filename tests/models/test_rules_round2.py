"""Rules engine, round 2: sentence ends after category numbers, M/N stages described in words,
hedged critical findings (reported as uncertain) and "unlikely" in the CheXpert labeler."""

from __future__ import annotations

from typing import Any

import pytest

from models.rules import RulesEngine
from models.rules.engine import DESCRIBED_CONFIDENCE, STATED_CONFIDENCE
from models.rules.tnm import stated_m, stated_n
from models.text import sentence_spans, split_sentences
from models.types import Analysis, MStageValue, NStageValue, RadiologyReport, ReportFacts, TaskName, TaskRequest

ENGINE = RulesEngine()


def _report(findings: str, impression: str | None = None, *, modality: str | None = None,
            procedure: str | None = None) -> RadiologyReport:
    return RadiologyReport(report_id="t", modality=modality, procedure=procedure, findings=findings, impression=impression)


def _dev(row: dict[str, Any]) -> RadiologyReport:
    return RadiologyReport(report_id=row["id"], modality=row["modality"], procedure=row["procedure"],
                           findings=row["findings"], impression=row["impression"], prior_text=row["prior"])


def _stage(task: TaskName, report: RadiologyReport) -> str | None:
    result = ENGINE.stated(TaskRequest(task=task, report=report))
    return result.value.stage if result else None  # type: ignore[union-attr]


# ---- 1. sentence splitter -------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Suspicious mass. BI-RADS 4. Biopsy recommended.", ["Suspicious mass.", "BI-RADS 4.", "Biopsy recommended."]),
        ("Irregular spiculated mass at 10:00. BI-RADS 5. Ultrasound-guided biopsy is recommended.",
         ["Irregular spiculated mass at 10:00.", "BI-RADS 5.", "Ultrasound-guided biopsy is recommended."]),
        ("Arterial phase hyperenhancement with washout in segment 7. LR-5. Refer to multidisciplinary tumor board.",
         ["Arterial phase hyperenhancement with washout in segment 7.", "LR-5.",
          "Refer to multidisciplinary tumor board."]),
        ("Solid isoechoic nodule in the right lobe, TR3. Follow-up in 1 year.",
         ["Solid isoechoic nodule in the right lobe, TR3.", "Follow-up in 1 year."]),
        ("Ipsilateral mediastinal nodes, cN2. cM1. Hepatic lesions as above.",
         ["Ipsilateral mediastinal nodes, cN2.", "cM1.", "Hepatic lesions as above."]),
        ("Nodal disease is N2. M1. Adrenal lesion.", ["Nodal disease is N2.", "M1.", "Adrenal lesion."]),
        ("Palpable lump corresponds to a simple cyst at 2:00. Benign.",
         ["Palpable lump corresponds to a simple cyst at 2:00.", "Benign."]),
        ("Seen on image 45 of series 3. No change.", ["Seen on image 45 of series 3.", "No change."]),
        # list numbers: at the start of a line, after a sentence end, or after a section heading
        ("1. Mass in the left breast. BI-RADS 5.\n2. Left axillary lymph node.",
         ["1. Mass in the left breast.", "BI-RADS 5.", "2. Left axillary lymph node."]),
        ("1. 3.2 cm right upper lobe mass.\n2) No effusion.", ["1. 3.2 cm right upper lobe mass.", "2) No effusion."]),
        ("1. Pneumonia. 2. Small effusion.", ["1. Pneumonia.", "2. Small effusion."]),
        ("IMPRESSION: 1. Mass. 2. Node.", ["IMPRESSION: 1. Mass.", "2. Node."]),
        # decimals and abbreviations stay inside their sentence
        ("A 3.2 cm mass, e.g. in the RUL. Dr. Smith was notified at 14:05. Atelectasis vs. pneumonia.",
         ["A 3.2 cm mass, e.g. in the RUL.", "Dr. Smith was notified at 14:05.", "Atelectasis vs. pneumonia."]),
        ("Approx. 3 cm. Stable. No. 8 endotracheal tube.", ["Approx. 3 cm.", "Stable.", "No. 8 endotracheal tube."]),
        ("Measures 1.4 x 0.9 x 2.0 cm. Unchanged.", ["Measures 1.4 x 0.9 x 2.0 cm.", "Unchanged."]),
    ],
)
def test_sentence_ends_after_category_numbers(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected
    assert all(text[a:b] == s for (a, b), s in zip(sentence_spans(text), expected, strict=True))


def test_evidence_of_a_category_and_a_follow_up_is_their_own_sentence() -> None:
    report = _report("Left breast: 1.1 cm irregular hypoechoic mass at 2:00. BI-RADS 4. Biopsy recommended.",
                     modality="US", procedure="US BREAST LEFT")
    rads = ENGINE.rads(report)
    assert rads is not None and rads.value.category == "4"  # type: ignore[union-attr]
    assert [e.sentence for e in rads.evidence] == ["BI-RADS 4."]
    text = report.text()
    assert all(text[e.start : e.end] == e.sentence for e in rads.evidence)
    (fu,) = ENGINE.follow_ups(report)
    assert fu.evidence[0].sentence == "Biopsy recommended."


# ---- 2. M (and N0) stage described in words -----------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # global negation of distant metastasis -> M0
        ("No evidence of distant metastatic disease.", "M0"),
        ("3. No CT evidence of distant metastasis.", "M0"),
        ("No lymphadenopathy or distant metastatic disease.", "M0"),
        ("There are no distant metastases in the chest, abdomen, or pelvis.", "M0"),
        ("2.4 cm pancreatic head mass without distant metastatic disease.", "M0"),
        ("Distant metastatic disease is not identified.", "M0"),
        ("No evidence of distant metastatic disease in the visualized upper abdomen.", "M0"),
        ("Distant metastases: none.", "M0"),
        # an organ, an exception or a hedge: not a global M0
        ("No hepatic metastases.", None),
        ("Liver: Homogeneous attenuation. No metastases.", None),
        ("No evidence of metastatic disease to the liver.", None),
        ("No adrenal or osseous metastases.", None),
        ("No definite evidence of distant metastatic disease.", None),
        ("No new distant metastases.", None),
        ("No other sites of distant metastatic disease.", None),
        ("Apart from the adrenal nodule, no distant metastases.", None),
        ("No evidence of distant metastatic disease, although a 4 mm lung nodule is indeterminate.", None),
        ("Indeterminate 6 mm hepatic lesion; metastasis cannot be excluded.\nNo evidence of distant metastatic disease.", None),
        # unhedged current distant metastasis -> M1
        ("New hepatic metastases.", "M1"),
        ("Osseous metastatic disease involving T8 and the left iliac bone.", "M1"),
        ("Multiple bilateral pulmonary nodules consistent with metastatic disease.", "M1"),
        ("Metastatic disease to the liver.", "M1"),
        ("Liver: Three new lesions, not present on the prior study, consistent with metastases.", "M1"),
        ("Findings are in keeping with hepatic and osseous metastases.", "M1"),
        ("Enhancing 1.2 cm left adrenal metastasis.", "M1"),
        ("IMPRESSION:\n1. Multiple new lytic lesions in the spine and pelvis, consistent with metastases.", "M1"),
        # hedged: left to the model
        ("Hepatic lesion suspicious for metastasis.", None),
        # "most consistent with" is the leading diagnosis (dev-037 is labelled M1): see test_rules_round4.py
        ("3.1 cm left adrenal mass, most consistent with metastasis. Adrenal sampling recommended for confirmation.", "M1"),
        ("Left adrenal nodule, likely metastasis.", None),
        ("Possible osseous metastasis in L3.", None),
        ("Sclerotic focus in L2 may represent a bone island or an osseous metastasis.", None),
        ("Hepatic metastases cannot be excluded.", None),
        ("Subcentimeter hypodensities concerning for hepatic metastases.", None),
        ("Pulmonary nodules, metastases until proven otherwise.", None),
        ("Osseous metastases versus degenerative change.", None),
        ("Recommend MRI to evaluate for hepatic metastases.", None),
        # historical or treated
        ("History of hepatic metastases, status post resection.", None),
        ("Treated hepatic metastases, decreased in size.", None),
        ("Previously described hepatic metastasis is no longer seen.", None),
        ("History: colon cancer with liver metastases.\nNo evidence of distant metastatic disease.", "M0"),
        # nodal/regional metastasis is N, peritoneal spread depends on the tumour
        ("Enlarged perirectal lymph nodes consistent with regional nodal metastases.", None),
        ("Ipsilateral hilar lymphadenopathy consistent with nodal metastasis.", None),
        ("Peritoneal carcinomatosis with omental caking.", None),
        ("Hepatic cysts, not metastases.", None),
        # M1 beats M0
        ("No hepatic metastases. New osseous metastatic disease in the spine.", "M1"),
        ("No evidence of distant metastatic disease in the chest. New left adrenal metastasis.", "M1"),
        # an explicit stage stays first; an explicit M0 against a described M1 is left to the model
        ("Clinical stage cT2 N1 M1a. No hepatic metastases.", "M1"),
        ("Clinical stage cT2 N0 M0. Osseous metastatic disease in T10.", None),
        ("Occlusion of the left M1 segment. No intracranial metastases.", None),
    ],
)
def test_m_stage_described_in_words(text: str, expected: str | None) -> None:
    assert _stage(TaskName.m_staging, _report(text)) == expected


def test_described_stage_is_marked_and_less_confident_than_a_stated_one() -> None:
    described = ENGINE.stated(TaskRequest(task=TaskName.m_staging, report=_report(
        "Liver: Two new hypoattenuating lesions.", "1. Sigmoid colon carcinoma.\n2. New hepatic metastases.")))
    stated = ENGINE.stated(TaskRequest(task=TaskName.m_staging, report=_report("Clinical stage: cT3 N1 M1a.")))
    assert described is not None and stated is not None
    assert described.value == MStageValue(stage="M1") == stated.value
    assert described.confidence == DESCRIBED_CONFIDENCE < stated.confidence == STATED_CONFIDENCE
    assert described.raw_output == "described: metastases" and described.note and "described in words" in described.note
    assert stated.note is None and stated.raw_output == "cT3 N1 M1a"
    assert [e.sentence for e in described.evidence] == ["2. New hepatic metastases."]
    assert described.decided_by == "rules"
    m = stated_m(_report("No evidence of distant metastatic disease.").text())
    assert m is not None and (m.stage, m.kind) == ("M0", "described")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No lymphadenopathy.", "N0"),
        ("Lymph nodes: No lymphadenopathy. Subcentimeter peripancreatic nodes are not enlarged.", "N0"),
        ("IMPRESSION: 2. No lymphadenopathy or distant metastatic disease.", "N0"),
        ("No pathologically enlarged lymph nodes.", "N0"),
        ("No lymphadenopathy by CT size criteria.", "N0"),
        # one station, one region, "other", a hedge: never N0
        ("No mediastinal adenopathy.", None),
        ("No supraclavicular or axillary lymphadenopathy.", None),
        ("Mediastinum: No lymphadenopathy.", None),
        ("No lymphadenopathy in the abdomen.", None),
        ("No other adenopathy.", None),
        ("No significant lymphadenopathy.", None),
        ("No definite lymphadenopathy.", None),
        # a suspicious node anywhere else withholds N0
        ("No lymphadenopathy. FDG-avid 8 mm subcarinal node with loss of the fatty hilum.", None),
        ("Enlarged right hilar lymph node. No mediastinal lymphadenopathy.", None),
        ("Lymph nodes: 1.2 cm left para-aortic node. No other lymphadenopathy.", None),
        ("No lymphadenopathy. A 7 mm mesorectal node is round with an irregular border.", None),
        ("Nodes: No lymphadenopathy. Prominent 9 mm precarinal node.", None),
        # an explicit N stage wins
        ("No lymphadenopathy. Nodal stage: cN1.", "N1"),
        ("History: no lymphadenopathy on the outside CT.", None),
    ],
)
def test_n0_only_from_a_global_negation(text: str, expected: str | None) -> None:
    assert _stage(TaskName.n_staging, _report(text)) == expected


def test_described_n0_is_uninvolved_and_marked() -> None:
    result = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=_report("No lymphadenopathy.")))
    assert result is not None and result.value == NStageValue(involvement=False, stage="N0")
    assert result.confidence == DESCRIBED_CONFIDENCE and (result.raw_output or "").startswith("described:")
    n = stated_n("No lymphadenopathy.")
    assert n is not None and n.kind == "described"


def test_staging_on_dev_never_answers_wrong(dev_reports: dict[str, dict[str, Any]]) -> None:
    answered = {"n_stage": 0, "m_stage": 0}
    for rid, row in dev_reports.items():
        report = _dev(row)
        for key, task in (("n_stage", TaskName.n_staging), ("m_stage", TaskName.m_staging)):
            gold = row["labels"][key]
            got = _stage(task, report)
            if gold is not None and got is not None:
                assert got == gold, (rid, key)
                answered[key] += 1
    assert answered["m_stage"] >= 5 and answered["n_stage"] >= 2


# ---- 3. hedged critical findings ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Possible small right apical pneumothorax.", [("pneumothorax", "uncertain")]),
        ("Pneumothorax cannot be excluded.", [("pneumothorax", "uncertain")]),
        ("Questionable thin left apical pneumothorax; recommend expiratory view.", [("pneumothorax", "uncertain")]),
        ("Suspected pulmonary embolism in a right lower lobe segmental artery, limited by motion.",
         [("pulmonary embolism", "uncertain")]),
        ("Pulmonary embolism is suspected in the left lower lobe subsegmental branches.",
         [("pulmonary embolism", "uncertain")]),
        ("Cannot exclude free air beneath the right hemidiaphragm.", [("free air", "uncertain")]),
        ("Findings concerning for a small amount of free intraperitoneal air.", [("free air", "uncertain")]),
        ("Hyperdensity in the left sylvian fissure, possibly subarachnoid hemorrhage.",
         [("intracranial hemorrhage", "uncertain")]),
        ("Possible tension pneumothorax.", [("tension pneumothorax", "uncertain")]),
        ("? small left apical pneumothorax", [("pneumothorax", "uncertain")]),
        # definite stays definite; a definite mention beats a hedged one
        ("New small right apical pneumothorax.", [("pneumothorax", "definite")]),
        ("Small right pneumothorax. A tiny left pneumothorax cannot be excluded.", [("pneumothorax", "definite")]),
        ("Acute pulmonary emboli in the right lower lobe. Possible small pneumothorax.",
         [("pneumothorax", "uncertain"), ("pulmonary embolism", "definite")]),
        # negated, resolved, historical, unchanged and the question asked: still not critical
        ("No pneumothorax.", []),
        ("Pneumothorax is unlikely.", []),
        ("Possible small pneumothorax on the prior study has resolved.", []),
        ("History of pulmonary embolism.", []),
        ("Possible small pneumothorax, unchanged from yesterday.", []),
        ("Chronic subdural hematoma, possibly with a small acute component, stable.", []),
        ("Evaluation for pulmonary embolism is limited by motion; no central PE.", []),
        ("Rule out pneumothorax.", []),
        ("Clinical concern for pulmonary embolism. No filling defect.", []),
        ("If there is clinical concern for free air, a left lateral decubitus view could be obtained.", []),
    ],
)
def test_hedged_critical_findings_are_reported_as_uncertain(text: str, expected: list[tuple[str, str]]) -> None:
    found = ENGINE.critical(_report(text))
    assert [(c.term, c.certainty) for c in found] == expected


def test_uncertain_critical_finding_reaches_facts_card_and_fhir(dev_reports: dict[str, dict[str, Any]]) -> None:
    from adapters.cds.cards import report_cards
    from adapters.fhir.outbound import critical_observation

    report = _report("Possible small right apical pneumothorax.", modality="CR", procedure="XR CHEST 1 VIEW")
    facts = ENGINE.facts(report)
    (finding,) = facts.critical
    assert finding.term == "pneumothorax" and finding.certainty == "uncertain"
    # The certainty survives storage (facts_json) and every builder says "suspected".
    dumped = ReportFacts.model_validate(facts.model_dump(mode="json"))
    assert [(c.term, c.certainty) for c in dumped.critical] == [("pneumothorax", "uncertain")]
    obs = critical_observation(finding, report)
    assert obs["valueCodeableConcept"]["text"] == "suspected pneumothorax"
    assert obs["valueCodeableConcept"]["coding"][0]["display"] == "pneumothorax"
    assert "Possible small right apical pneumothorax." in str(obs["note"]) and "Suspected" in str(obs["note"])
    cards = report_cards(Analysis(report=report, manifest_version="t", facts=facts), patient_id="p1")
    critical = [c for c in cards if c.indicator == "critical"]
    assert critical and "Possible small right apical pneumothorax." in (critical[0].detail or "")
    assert "suspected pneumothorax" in critical[0].summary and "only suspects" in (critical[0].detail or "")
    # The dev labels are unchanged: no dev report hedges a critical finding.
    for rid, row in dev_reports.items():
        assert [c.term for c in ENGINE.critical(_dev(row))] == row["labels"]["critical"], rid


# ---- 4. "unlikely" in the CheXpert labeler ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("findings", "expected"),
    [
        ("Pneumonia is unlikely.", {"pneumonia": "negative"}),
        ("Patchy left basilar opacity, unlikely to represent pneumonia.", {"lung opacity": "positive", "pneumonia": "negative"}),
        ("Infection is felt to be unlikely given the clinical history.", {"pneumonia": "negative"}),
        ("Pneumothorax is very unlikely.", {"pneumothorax": "negative"}),
        ("Pneumonia is not likely.", {"pneumonia": "negative"}),
        # only the finding it qualifies: the atelectasis and the opacity before it stay
        ("Left basilar opacity most likely atelectasis, pneumonia is unlikely.",
         {"atelectasis": "uncertain", "lung opacity": "positive", "pneumonia": "negative"}),
        ("Left lower lobe atelectasis, pneumonia unlikely.", {"atelectasis": "positive", "pneumonia": "negative"}),
        ("Opacity unlikely to represent pneumonia, likely atelectasis.",
         {"atelectasis": "uncertain", "lung opacity": "positive", "pneumonia": "negative"}),
        # near misses: "less likely" stays in the differential (CheXpert: uncertain); "likely" is uncertain
        ("Atelectasis, pneumonia less likely.", {"atelectasis": "positive", "pneumonia": "uncertain"}),
        ("Pneumonia is less likely.", {"pneumonia": "uncertain"}),
        ("Pneumonia is likely.", {"pneumonia": "uncertain"}),
        ("The opacity is likely atelectasis.", {"atelectasis": "uncertain", "lung opacity": "positive"}),
        ("Likely right lower lobe pneumonia.", {"pneumonia": "uncertain"}),
    ],
)
def test_unlikely_is_a_negation_less_likely_an_uncertainty(findings: str, expected: dict[str, str]) -> None:
    labels = ENGINE.chexpert(_report(findings, modality="CR")).labels
    assert {k: v for k, v in labels.items() if k != "no finding"} == expected
    hedged_or_present = any(v in ("positive", "uncertain") for v in expected.values())
    assert labels["no finding"] == ("negative" if hedged_or_present else "positive")
