"""Section splitting of whole-report text in the heading styles RIS templates print."""

from __future__ import annotations

import pytest

from adapters.sections import report_fields, split_sections

CASES = [
    # (text, procedure, findings, impression)
    (
        "STUDY: CT CHEST WITHOUT CONTRAST\nFINDINGS: 6 mm solid nodule.\nIMPRESSION: Lung-RADS 3.",
        "CT CHEST WITHOUT CONTRAST", "6 mm solid nodule.", "Lung-RADS 3.",
    ),
    (
        "EXAM TYPE: MRI PROSTATE\nFINDINGS/IMPRESSION: PI-RADS 4 lesion in the left PZ.",
        "MRI PROSTATE", "PI-RADS 4 lesion in the left PZ.", None,
    ),
    ("FINDINGS -\nThe lungs are clear.\nIMPRESSION -\nNormal chest.", None, "The lungs are clear.", "Normal chest."),
    ("Findings \u2014 No effusion.\nImpression \u2014 Negative.", None, "No effusion.", "Negative."),
    ("REPORT:\nThe lungs are clear.\nIMPRESSION: No acute disease.", None, "The lungs are clear.", "No acute disease."),
    (
        "EXAM: BILATERAL SCREENING MAMMOGRAM\nFINDINGS: Scattered fibroglandular densities.\n"
        "ASSESSMENT: BI-RADS 1 - Negative.",
        "BILATERAL SCREENING MAMMOGRAM", "Scattered fibroglandular densities.", "BI-RADS 1 - Negative.",
    ),
    (
        "DIAGNOSTIC IMPRESSION: LR-4 observation in segment 7.", None, None, "LR-4 observation in segment 7.",
    ),
    # A dash inside a findings line is not a heading: only known heading names split.
    (
        "FINDINGS: Heart - normal size.\nLungs - clear.\nIMPRESSION: Normal.",
        None, "Heart - normal size.\nLungs - clear.", "Normal.",
    ),
    # "Results:" after the impression is its text, not a findings body.
    (
        "FINDINGS: Small pneumothorax.\nIMPRESSION: Small right pneumothorax.\nResults: called to Dr. Lee at 10:30.",
        None, "Small pneumothorax.", "Small right pneumothorax.\nResults: called to Dr. Lee at 10:30.",
    ),
    # "Study:" once the body has begun is body text, not a second exam.
    (
        "EXAM: CT HEAD\nFINDINGS: No hemorrhage.\nStudy: limited by motion.\nIMPRESSION: No acute findings.",
        "CT HEAD", "No hemorrhage.\nStudy: limited by motion.", "No acute findings.",
    ),
]


@pytest.mark.parametrize(("text", "procedure", "findings", "impression"), CASES)
def test_heading_styles(text: str, procedure: str | None, findings: str | None, impression: str | None) -> None:
    got = split_sections(text)
    assert (got.procedure, got.findings, got.impression) == (procedure, findings, impression)
    assert got.headed


def test_sentence_with_a_dash_is_not_a_heading() -> None:
    got = split_sections("Summary of prior - none available.\nLungs clear.")
    # "Summary of prior" is no heading name, so the whole text stays the default section.
    assert got.findings == "Summary of prior - none available.\nLungs clear."
    assert not got.headed


def test_report_fields_keep_every_line() -> None:
    text = "STUDY: US THYROID\nClinical: palpable nodule\nFINDINGS: 1.2 cm nodule, TR4.\nIMPRESSION: TI-RADS 4."
    fields = report_fields(text)
    assert fields["procedure"] == "US THYROID"
    assert fields["findings"].startswith("Clinical: palpable nodule")
    assert fields["impression"] == "TI-RADS 4."
