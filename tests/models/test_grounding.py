"""Grounding: no finding we return is missing from the report (models/grounding.py)."""

from __future__ import annotations

import pytest

from models.grounding import ground, mentioned_labels
from models.types import (
    ChexpertValue,
    EntitiesValue,
    ModelIdentity,
    RadiologyReport,
    TaskName,
    TaskResult,
    TemporalChange,
    TemporalValue,
    TextValue,
)

MODEL = ModelIdentity(model_id="m", sha256="0" * 64, backend="llama_cpp", role="extraction", demo=True)

NO_COMPARISON = RadiologyReport(
    report_id="r1", modality="DX",
    findings="Comparison: None available.\nThe lungs are clear without focal consolidation. No pleural effusion "
             "or pneumothorax. Heart size is normal. Mild thoracic spondylosis.",
    impression="No acute cardiopulmonary abnormality.",
)
FOLLOW_UP = RadiologyReport(
    report_id="r2", modality="CT",
    findings="Comparison: CT chest 2025-01-10.\nThe right upper lobe nodule measures 9 mm, previously 6 mm. "
             "Small left pleural effusion has resolved. Stable mediastinal lymph nodes. Consolidative opacities "
             "in the lingula are less extensive.",
    impression="1. Enlarging right upper lobe nodule. 2. Resolved left effusion.",
)


def _result(task: TaskName, value, note: str | None = None) -> TaskResult:  # type: ignore[no-untyped-def]
    return TaskResult(task=task, value=value, confidence=0.5, model=MODEL, note=note)


def test_changes_in_a_report_without_comparison_are_left_out_and_noted() -> None:
    value = TemporalValue(changes=[
        TemporalChange(finding="acute cardiopulmonary", change="improved", cue="No acute cardiopulmonary"),
        TemporalChange(finding="mild thoracic spondyloep", change="improved"),
        TemporalChange(finding="mild thoracic spondyloep", change="improved"),
    ])
    out = ground(_result(TaskName.temporal_comparison, value), NO_COMPARISON)
    assert out.value.changes == []
    assert out.note is not None and "acute cardiopulmonary (improved)" in out.note
    assert out.note.count("spondyloep") == 1  # a looping model's repeats are one item


def test_grounded_changes_stay_even_when_paraphrased_or_cut_short() -> None:
    value = TemporalValue(changes=[
        TemporalChange(finding="right upper lobe nodule", change="worsened", cue="measures 9 mm, previously 6 mm"),
        TemporalChange(finding="left pleural effusions", change="resolved"),  # plural, the report has singular
        TemporalChange(finding="mediastinal lymph nodes", change="unchanged"),
        TemporalChange(finding="lingular consolidative opaci", change="improved"),  # token limit cut the last word
    ])
    out = ground(_result(TaskName.temporal_comparison, value), FOLLOW_UP)
    assert out.value == value and out.note is None


def test_a_change_class_the_report_never_expresses_is_left_out() -> None:
    value = TemporalValue(changes=[TemporalChange(finding="right upper lobe nodule", change="new"),
                                   TemporalChange(finding="right upper lobe nodule", change="worsened")])
    out = ground(_result(TaskName.temporal_comparison, value), FOLLOW_UP)
    assert [c.change for c in out.value.changes] == ["worsened"]
    assert "right upper lobe nodule (new)" in (out.note or "")


def test_invented_entities_are_left_out_and_negated_ones_are_absent() -> None:
    value = EntitiesValue(
        anatomy=["lungs", "left kidney"],
        present=["No respiratory complaints", "thoracic spondylosis", "pulmonary embolism"],
        absent=["pneumothorax"],
        uncertain=["No pleural effusion or pneumothorax"],
    )
    report = NO_COMPARISON.model_copy(update={"findings": "Indication: No respiratory complaints.\n"
                                                          + (NO_COMPARISON.findings or "")})
    out = ground(_result(TaskName.radiology_ner, value), report)
    assert out.value.anatomy == ["lungs"]
    assert out.value.present == ["thoracic spondylosis"]
    assert out.value.absent == ["pneumothorax", "No respiratory complaints", "No pleural effusion or pneumothorax"]
    assert out.value.uncertain == []
    assert "left kidney" in (out.note or "") and "pulmonary embolism" in (out.note or "")
    assert "moved to absent" in (out.note or "")


def test_unmentioned_chexpert_labels_become_negative_and_no_finding_follows() -> None:
    value = ChexpertValue(labels={"atelectasis": "uncertain", "fracture": "positive", "pleural effusion": "negative",
                                  "pneumothorax": "negative", "lung opacity": "negative", "no finding": "negative"})
    out = ground(_result(TaskName.abnormality_detection, value), NO_COMPARISON)
    assert out.value.labels["atelectasis"] == "negative" and out.value.labels["fracture"] == "negative"
    assert out.value.labels["no finding"] == "positive"
    assert "atelectasis: uncertain" in (out.note or "") and "fracture: positive" in (out.note or "")


def test_mentioned_chexpert_labels_keep_the_models_value() -> None:
    report = RadiologyReport(report_id="r3", modality="CR",
                             findings="Patchy bibasilar airspace disease. Healing left rib fractures. Right PICC.",
                             impression="Bibasilar airspace disease, possibly pneumonia.")
    value = ChexpertValue(labels={"lung opacity": "positive", "fracture": "positive", "pneumonia": "uncertain",
                                  "support devices": "positive", "no finding": "negative"})
    out = ground(_result(TaskName.abnormality_detection, value, note="earlier note"), report)
    assert out.value == value and out.note == "earlier note"


@pytest.mark.parametrize(("text", "labels"), [
    ("Mild cardiomegaly. Lungs are clear.", {"cardiomegaly", "lung opacity"}),
    ("No pneumothorax.", {"pneumothorax"}),
    ("Endotracheal tube 4 cm above the carina.", {"support devices"}),
    ("Degenerative changes of the spine.", set()),
])
def test_mentioned_labels_counts_negated_mentions_too(text: str, labels: set[str]) -> None:
    assert labels <= mentioned_labels(text)
    if not labels:
        assert mentioned_labels(text) == set()


def test_generated_text_naming_an_unmentioned_finding_is_flagged_not_cut() -> None:
    text = "Large right pneumothorax. No acute fracture."
    out = ground(_result(TaskName.impression_generation, TextValue(text=text)),
                 NO_COMPARISON.model_copy(update={"findings": "Mild thoracic spondylosis. Heart size is normal."}))
    assert out.value.text == text
    assert out.note is not None and "pneumothorax" in out.note and "fracture" not in out.note


def test_grounded_generated_text_gets_no_note() -> None:
    out = ground(_result(TaskName.impression_generation, TextValue(text="No pleural effusion or pneumothorax.")),
                 NO_COMPARISON)
    assert out.note is None


def test_generated_text_contradicting_the_report_is_flagged() -> None:
    report = RadiologyReport(report_id="r4", modality="CR", findings="Small right pleural effusion. No pneumothorax.",
                             impression=None)
    out = ground(_result(TaskName.impression_generation,
                         TextValue(text="No pleural effusion. Small right pneumothorax.")), report)
    assert out.note is not None
    assert "contradicts the report on: pleural effusion, pneumothorax" in out.note
    agreeing = ground(_result(TaskName.impression_generation, TextValue(text="Small right pleural effusion.")), report)
    assert agreeing.note is None


def test_with_a_prior_report_the_model_may_compare_the_texts_itself() -> None:
    current = RadiologyReport(report_id="r5", modality="CT", findings="Right upper lobe nodule measures 9 mm.",
                              impression="Right upper lobe nodule.",
                              prior_text="FINDINGS: Right upper lobe nodule measures 6 mm. Small left pleural effusion.")
    value = TemporalValue(changes=[TemporalChange(finding="right upper lobe nodule", change="worsened"),
                                   TemporalChange(finding="left pleural effusion", change="resolved"),
                                   TemporalChange(finding="pericardial effusion", change="new")])
    out = ground(_result(TaskName.temporal_comparison, value), current)
    assert [c.finding for c in out.value.changes] == ["right upper lobe nodule", "left pleural effusion"]
    assert "pericardial effusion (new)" in (out.note or "")


@pytest.mark.parametrize("sentence", [
    "The liver appears normal.", "The mass extends into the hilum.", "Enlarged mediastinal lymph nodes.",
    "Nodule less than 5 mm.", "Lungs are well expanded.",
])
def test_common_words_that_compare_nothing_do_not_license_a_change(sentence: str) -> None:
    report = RadiologyReport(report_id="r6", modality="CT", findings=f"Comparison: none. {sentence}", impression=None)
    value = TemporalValue(changes=[TemporalChange(finding=w, change=c) for w, c in
                                   (("liver", "new"), ("mass", "worsened"), ("lymph nodes", "worsened"),
                                    ("nodule", "improved"), ("lungs", "worsened"))])
    assert ground(_result(TaskName.temporal_comparison, value), report).value.changes == []


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [
        ("Large left pneumothorax with mediastinal shift to the right.", False),
        ("Mediastinal drain in place. Enlarged mediastinal lymph nodes.", False),
        ("The cardiomediastinal silhouette is normal.", True),
        ("Mediastinum: normal.", True),
        ("Widened mediastinum.", True),
    ],
)
def test_only_the_cardiomediastinal_contour_mentions_enlarged_cardiomediastinum(text: str, mentioned: bool) -> None:
    """A model's 'enlarged cardiomediastinum' must not survive on a mediastinal word that names something else."""
    assert ("enlarged cardiomediastinum" in mentioned_labels(text)) is mentioned


def test_section_headings_are_not_entities() -> None:
    value = EntitiesValue(anatomy=["FINDINGS", "lungs", "Comparison"], present=["Clinical history", "thoracic spondylosis"])
    report = NO_COMPARISON.model_copy(update={"findings": "CLINICAL HISTORY: cough.\nFINDINGS:\n" + (NO_COMPARISON.findings or "")})
    out = ground(_result(TaskName.radiology_ner, value), report)
    assert out.value.anatomy == ["lungs"]
    assert out.value.present == ["thoracic spondylosis"]
    assert "FINDINGS" in (out.note or "") and "Clinical history" in (out.note or "")
