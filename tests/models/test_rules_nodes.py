"""N1-N3 derived from described regional nodes (models.rules.nodes): the AJCC 8th organ rules,
counting in words and numerals, node status, and every case where the rules must stay silent."""

from __future__ import annotations

from typing import Any

import pytest

from models.rules import RulesEngine
from models.rules.engine import DESCRIBED_CONFIDENCE
from models.rules.nodes import derived_n
from models.types import NStageValue, RadiologyReport, TaskName, TaskRequest

ENGINE = RulesEngine()

COLON = "Indication: Newly diagnosed sigmoid adenocarcinoma. Staging.\n"
RECTUM = "History: Biopsy-proven rectal adenocarcinoma. Staging.\n"
STOMACH = "History: Gastric adenocarcinoma on EGD. Staging.\n"
ESOPH = "History: Distal esophageal adenocarcinoma. Staging.\n"
KIDNEY = "Indication: Staging of renal mass.\nKidneys: 6 cm solid enhancing mass in the right kidney, consistent with renal cell carcinoma.\n"
BLADDER = "History: Urothelial carcinoma of the bladder. Staging.\n"
LUNG_R = "History: Biopsy-proven RUL adenocarcinoma. Staging.\n"
LUNG_L = "History: LLL adenocarcinoma. Staging.\n"


def _n(body: str, impression: str | None = None) -> str | None:
    report = RadiologyReport(report_id="t", modality="CT", procedure=None, findings=body, impression=impression)
    found = derived_n(report.text())
    return found.stage if found else None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # colon / rectum: 1-3 N1, >=4 N2
        (COLON + "Three enlarged pericolic lymph nodes, largest 1.1 cm.", "N1"),
        (COLON + "A 1.2 cm pericolic lymph node.", "N1"),
        (COLON + "Five enlarged pericolic lymph nodes adjacent to the tumor.", "N2"),
        (COLON + "4 enlarged mesenteric lymph nodes along the sigmoid vessels.", "N2"),
        (RECTUM + "Two suspicious mesorectal lymph nodes with irregular margins.", "N1"),
        (RECTUM + "Two enlarged mesorectal nodes and three enlarged perirectal lymph nodes.", "N2"),
        (RECTUM + "A 6 mm mesorectal node is round and heterogeneous.", "N1"),
        (RECTUM + "Two mesorectal nodes are not enlarged but show loss of the fatty hilum.", "N1"),
        (COLON + "Multiple enlarged pericolic lymph nodes.", None),  # 2 or more: N1 or N2
        (COLON + "Pericolic lymphadenopathy.", None),  # count unknown
        (COLON + "Two enlarged pericolic lymph nodes. A borderline 9 mm mesenteric node and two prominent pericolic nodes.", None),
        (COLON + "Three small reactive pericolic lymph nodes.", None),
        (COLON + "Subcentimeter pericolic nodes, not enlarged.", None),
        (COLON + "Enlarged 1.5 cm para-aortic lymph node.", None),  # distant, not N
        # stomach / esophagus: 1-2 N1, 3-6 N2, >=7 N3
        (STOMACH + "Two enlarged perigastric lymph nodes along the lesser curvature.", "N1"),
        (STOMACH + "Four enlarged perigastric lymph nodes.", "N2"),
        (STOMACH + "Eight enlarged perigastric lymph nodes.", "N3"),
        (STOMACH + "Enlarged perigastric lymph nodes.", None),
        (ESOPH + "Two enlarged paraesophageal lymph nodes, 1.2 and 1.0 cm.", "N1"),
        (ESOPH + "Three enlarged paraesophageal lymph nodes and an enlarged 1.3 cm celiac node.", "N2"),
        (ESOPH + "An FDG-avid paraesophageal lymph node.", "N1"),
        (ESOPH + "Two enlarged paraesophageal nodes. Another enlarged gastrohepatic ligament node.", "N2"),
        # kidney: any regional node N1
        (KIDNEY + "Enlarged right paracaval lymph node, 1.6 cm.", "N1"),
        (KIDNEY + "Multiple enlarged retroperitoneal lymph nodes.", "N1"),
        (KIDNEY + "Renal hilar node 1.3 cm, possibly reactive.", None),
        (KIDNEY + "No enlarged lymph nodes.", None),
        # bladder: one true-pelvis node N1, multiple N2, common iliac N3
        (BLADDER + "A 1.4 cm right obturator lymph node.", "N1"),
        (BLADDER + "Multiple enlarged external iliac lymph nodes.", "N2"),
        (BLADDER + "Enlarged left obturator node and enlarged left internal iliac node.", "N2"),
        (BLADDER + "Enlarged right obturator node. Enlarged 1.5 cm right common iliac node.", "N3"),
        (BLADDER + "Pelvic lymphadenopathy.", None),  # one or more, common iliac not excluded
        # lung: station and side
        (LUNG_R + "A 1.2 cm right hilar node.", "N1"),
        (LUNG_R + "Enlarged right lower paratracheal (4R) node 1.4 cm.", "N2"),
        (LUNG_R + "Enlarged subcarinal lymph node, 1.5 cm.", "N2"),
        (LUNG_R + "Enlarged left hilar lymph node, 1.3 cm.", "N3"),
        (LUNG_R + "FDG-avid right supraclavicular lymph node.", "N3"),
        (LUNG_L + "Enlarged 4L node and an enlarged left hilar node.", "N2"),
        (LUNG_L + "Enlarged aortopulmonary window node, 1.2 cm.", "N2"),
        (LUNG_R + "Enlarged hilar lymph node, 1.2 cm.", None),  # side not given: N1 or N3
        (LUNG_R + "Enlarged right hilar node 1.3 cm. Prominent left paratracheal node, indeterminate.", None),
        (LUNG_R + "Right hilar lymph node measures 8 mm, not enlarged, not FDG avid.", None),
        (LUNG_R + "Right hilar node, not enlarged, but FDG avid with loss of the fatty hilum.", "N1"),
        ("History: Lung adenocarcinoma. Staging.\nEnlarged right hilar node 1.4 cm.", None),  # primary's side unknown
    ],
)
def test_organ_rules(body: str, expected: str | None) -> None:
    assert _n(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        # no staging cue, or a treated / surveillance study
        "Sigmoid adenocarcinoma. Three enlarged pericolic lymph nodes.",
        "History: Sigmoid adenocarcinoma. Restaging after chemotherapy.\nThree enlarged pericolic lymph nodes.",
        "History: Rectal cancer status post neoadjuvant chemoradiation. Staging.\nTwo enlarged mesorectal nodes.",
        "History: Esophageal cancer, surveillance. Staging.\nTwo enlarged paraesophageal nodes.",
        "History: Sigmoid cancer s/p sigmoid colectomy. Staging.\nThree enlarged pericolic nodes.",
        # primary unclear
        "History: Staging.\nThree enlarged pericolic lymph nodes.",
        "History: Sigmoid adenocarcinoma and history of breast cancer. Staging.\nThree enlarged pericolic lymph nodes.",
        "History: RUL adenocarcinoma; renal mass. Staging.\nEnlarged right hilar node 1.3 cm.",
        # explicitly benign or negated
        COLON + "No enlarged pericolic, mesenteric or retroperitoneal lymph nodes.",
        COLON + "Two pericolic nodes with preserved fatty hila, likely reactive.",
        LUNG_R + "No mediastinal, hilar or supraclavicular adenopathy.",
        # hedged, partial or misplaced wording
        LUNG_R + "Enlarged right hilar node 1.3 cm, likely reactive.",
        LUNG_R + "Mediastinal lymphadenopathy.",  # side not given: N2 or N3
        COLON + "Five pericolic lymph nodes, two of which measure over 1 cm.",
        COLON + "Largest pericolic node 1.2 cm.",  # one of several
        COLON + "Two enlarged pericolic nodes, which have decreased since the prior study.",
        BLADDER + "Enlarged 1.2 cm left inguinal node.",  # distant, not N
        # history line only
        "History: sigmoid adenocarcinoma, three enlarged pericolic nodes on outside CT. Staging.\nNo other findings.",
    ],
)
def test_abstains(body: str) -> None:
    assert _n(body) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (LUNG_R + "Enlarged right hilar node adjacent to the left atrium.", "N1"),  # side of the station only
        (LUNG_R + "Bilateral hilar lymphadenopathy.", "N3"),
        (LUNG_R + "Enlarged right hilar node. Enlarged right paratracheal node.", "N2"),
        (COLON + "Three enlarged pericolic lymph nodes. Two additional enlarged mesenteric nodes.", "N2"),
        (COLON + "Kidneys: no solid renal mass.\nTwo enlarged pericolic nodes.", "N1"),  # a negated mass names no primary
        (STOMACH + "Seven enlarged perigastric lymph nodes.", "N3"),
    ],
)
def test_sides_sums_and_negated_primaries(body: str, expected: str) -> None:
    assert _n(body) == expected


def test_planned_treatment_is_still_pretreatment() -> None:
    body = "History: Rectal adenocarcinoma, staging before neoadjuvant chemoradiation.\nTwo enlarged mesorectal lymph nodes."
    assert _n(body) == "N1"


def test_impression_restating_the_findings_is_not_counted_twice() -> None:
    body = COLON + "Three enlarged pericolic lymph nodes adjacent to the tumor."
    assert _n(body, "1. Sigmoid carcinoma with three pericolic lymph nodes suspicious for nodal metastases.") == "N1"


def test_impression_adds_a_station_the_findings_do_not_name() -> None:
    body = STOMACH + "Two enlarged perigastric lymph nodes."
    assert _n(body, "Gastric cancer with perigastric nodes and an enlarged celiac node.") == "N2"


def test_stated_n_wins_over_derived() -> None:
    report = RadiologyReport(report_id="t", modality="CT", procedure=None,
                             findings=COLON + "Five enlarged pericolic lymph nodes.", impression="cN1 disease.")
    result = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=report))
    assert result is not None and result.value == NStageValue(involvement=True, stage="N1")
    assert result.confidence > DESCRIBED_CONFIDENCE and result.note is None


def test_derived_result_is_marked_with_rule_note_and_node_sentences() -> None:
    report = RadiologyReport(report_id="t", modality="CT", procedure=None,
                             findings=COLON + "Five enlarged pericolic lymph nodes adjacent to the tumor.\nLiver: no lesions.")
    result = ENGINE.stated(TaskRequest(task=TaskName.n_staging, report=report))
    assert result is not None and result.value == NStageValue(involvement=True, stage="N2")
    assert result.confidence == DESCRIBED_CONFIDENCE
    assert (result.raw_output or "").startswith("derived:")
    assert result.note is not None and "colon/rectum" in result.note and "pericolic" in result.note
    assert [e.sentence for e in result.evidence] == ["Five enlarged pericolic lymph nodes adjacent to the tumor."]


def _dev(row: dict[str, Any]) -> RadiologyReport:
    return RadiologyReport(report_id=row["id"], modality=row["modality"], procedure=row["procedure"],
                           findings=row["findings"], impression=row["impression"], prior_text=row["prior"])


def test_dev_reports_never_wrong_and_silent_off_staging(dev_reports: dict[str, dict[str, Any]]) -> None:
    answered = 0
    for rid, row in dev_reports.items():
        found = derived_n(_dev(row).text())
        gold = row["labels"]["n_stage"]
        if gold is None:
            assert found is None, rid  # never on a non-staging study
        elif found is not None:
            assert found.stage == gold, rid
            answered += 1
    assert answered >= 4
