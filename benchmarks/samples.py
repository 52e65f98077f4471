"""Synthetic reports the benchmarks run on: typical length and shape per task, no patient data."""

from __future__ import annotations

from models.types import RadiologyReport, TaskName, TaskRequest

MAMMO = RadiologyReport(
    report_id="bench-mg",
    modality="MG",
    findings=(
        "Indication: Screening.\nComparison: Screening mammogram from the prior year.\n"
        "Breast composition: scattered areas of fibroglandular density.\n"
        "RIGHT: No suspicious mass, calcifications or architectural distortion.\n"
        "LEFT: New 1.1 cm focal asymmetry in the upper outer quadrant, posterior depth, seen on the CC and MLO "
        "views, not present on the prior study. No associated calcifications."
    ),
    impression="New focal asymmetry in the left breast. Additional imaging recommended. BI-RADS 0: Incomplete.",
)

CT_ONCO = RadiologyReport(
    report_id="bench-ct",
    modality="CT",
    findings=(
        "History: Staging of newly diagnosed right lower lobe adenocarcinoma.\n"
        "Comparison: None.\n"
        "Lungs: 3.4 cm spiculated mass in the right lower lobe. No additional nodules.\n"
        "Lymph nodes: Enlarged right hilar node measuring 1.6 cm and subcarinal node measuring 1.3 cm.\n"
        "Pleura: No effusion.\n"
        "Upper abdomen: Two new hypodense liver lesions, the largest 2.1 cm in segment 7, suspicious for "
        "metastases. Adrenal glands are normal."
    ),
    impression=(
        "1. Right lower lobe mass with ipsilateral hilar and subcarinal adenopathy.\n"
        "2. Hepatic lesions suspicious for metastatic disease."
    ),
    prior_text="CT chest 6 months ago: no pulmonary mass, no lymphadenopathy, liver unremarkable.",
)

CHEST_XR = RadiologyReport(
    report_id="bench-cr",
    modality="CR",
    findings=(
        "Comparison: Radiograph from 2 days prior.\n"
        "Endotracheal tube tip 4 cm above the carina. Right internal jugular central line tip in the SVC.\n"
        "Interval increase in right lower lobe consolidation. Small right pleural effusion.\n"
        "Heart size is normal. No pneumothorax."
    ),
    impression="Worsening right lower lobe consolidation, likely pneumonia. Small right effusion. Lines and tubes "
    "in satisfactory position.",
)


def requests() -> list[TaskRequest]:
    """One request per task, each on the report it would be planned for."""
    return [
        TaskRequest(task=TaskName.rads_assignment, report=MAMMO),
        TaskRequest(task=TaskName.n_staging, report=CT_ONCO),
        TaskRequest(task=TaskName.m_staging, report=CT_ONCO),
        TaskRequest(task=TaskName.radiology_nli, report=CHEST_XR,
                    premise="Interval increase in right lower lobe consolidation.",
                    hypothesis="The right lower lobe consolidation has improved."),
        TaskRequest(task=TaskName.abnormality_detection, report=CHEST_XR),
        TaskRequest(task=TaskName.temporal_comparison, report=CT_ONCO),
        TaskRequest(task=TaskName.radiology_ner, report=CHEST_XR),
        TaskRequest(task=TaskName.impression_generation, report=CHEST_XR),
        TaskRequest(task=TaskName.radiology_qa, report=CT_ONCO, question="Is there evidence of distant metastasis?"),
    ]
