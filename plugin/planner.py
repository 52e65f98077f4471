"""Which of the nine tasks apply to a report, and why.

The plan is deterministic and explainable: each planned task carries the reason it was
chosen, and the plan is stored with the results. Inputs are the modality, the procedure
text and the report text; nothing here runs a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.cds.regions import body_regions
from models.rules.applicability import asserted_at, rads_system_for, study_exam
from models.rules.tnm import stated_m, stated_n
from models.types import PlannedTask, RadiologyReport, TaskName

__all__ = ["Plan", "compares_with_prior", "plan_report", "rads_system_for"]

# Staging applies to pre-treatment oncologic studies: an explicit staging request, a known
# or newly diagnosed cancer, or a report that itself speaks in TNM terms. Words such as
# "no evidence of malignancy" in a screening report are not enough.
# Cancer words, with the compound names ("cholangiocarcinoma", "osteosarcoma", "neuroblastoma") and the
# abbreviations indications use ("NSCLC", "RCC", "laryngeal SCC"); "-oma" alone is no cancer (lipoma, hematoma,
# osteoblastoma are benign).
_CANCER = (r"(?:\w*carcinoma|cancer|malignancy|\w*lymphoma|melanoma|\w*sarcoma|neoplasm|tumou?r|mesothelioma|"
           r"myeloma|seminoma|(?:neuro|hepato|nephro|retino|glio|medullo)blastoma|Wilms|carcinoid|leuka?emia|NSCLC|SCLC|HNSCC|RCC|SCC|"
           r"DLBCL|GIST)")
_STAGING = re.compile(
    r"\b(?:re)?staging\b|\bmetastatic (?:work-?up|survey)\b|"
    rf"\b(?:known|newly diagnosed|biopsy[- ]proven|suspected|presumed|primary)\b[^.\n]{{0,60}}\b{_CANCER}|"
    rf"\b(?:consistent with|compatible with|suspicious for|concerning for|highly suggestive of)\b[^.\n]{{0,40}}\b{_CANCER}|"
    r"\bresectab|"
    rf"\b{_CANCER}\b[^.\n]{{0,40}}\b(?:staging|for staging|evaluate (?:for )?(?:spread|metastas[ie]s))|"
    r"\b[cpy]?T[0-4][a-c]?\s*N[0-3x]|\bN[0-3][abc]?\b[^.\n]{0,20}\bM[01x]\b",
    re.IGNORECASE,
)
_CANCER_WORD = re.compile(rf"\b{_CANCER}\b", re.IGNORECASE)
# A request to look for spread ("evaluate for metastatic disease, colon cancer") is a staging study
# by its question; ConText's "evaluate for" would negate every word after it in the sentence.
_METASTATIC_WORKUP = re.compile(
    r"\b(?:evaluat\w*|eval|assess\w*|r/o|rule out|search) (?:for )?(?:metastatic (?:disease|spread)|metastas[ie]s|"
    r"distant (?:disease|spread)|extent of disease)\b", re.IGNORECASE)
# "History: lung cancer screening", "breast cancer risk assessment": the program, not a cancer.
_NOT_A_CANCER = re.compile(r"\s+(?:screening|screen|risk|prevention)\b", re.IGNORECASE)
# An indication that names a cancer as the reason for this study ("History: esophageal cancer.",
# "Indication: pancreatic adenocarcinoma") is a pre-treatment study unless the line says the cancer
# is past or treated, or that the study is surveillance.
_CANCER_INDICATION = re.compile(
    r"^[ \t]*(?:clinical[ \t]+)?(?:history|indications?|reason[ \t]+for[ \t]+(?:exam|study|examination)|"
    r"clinical[ \t]+information)[ \t]*:"
    r"(?![^\n]*\b(?:history[ \t]+of|h/o|s/p|status[ \t]+post|remote|prior|previous|treated|resected|remission|"
    r"surveillance|follow[- ]?up|post[- ]?(?:treatment|operative|op)|recurren\w*)\b)"
    rf"[^.\n]{{0,60}}\b{_CANCER}",
    re.IGNORECASE | re.MULTILINE,
)
_SURVEILLANCE = re.compile(
    r"\b(?:post[- ]?treatment|surveillance|NI-?RADS|status post (?:resection|chemo|radiation))", re.IGNORECASE
)
_SCREENING_RADS = {"BI-RADS", "Lung-RADS", "TI-RADS", "GB-RADS", "CAD-RADS", "O-RADS"}
_NON_STAGING_MODALITIES = {"CR", "DX", "MG"}
_CHEST = re.compile(r"\b(chest|thorax|thoracic|lungs?|CXR|portable AP|PA and lateral)\b", re.IGNORECASE)
# A radiograph is a chest film when its procedure names the chest; a film of another region
# (abdomen, shoulder, thoracic spine) that mentions "the lung bases are clear" is not one. The
# report text decides only when the procedure names no region at all.
_CHEST_PROCEDURE = re.compile(r"\b(?:chest|thorax|CXR|lungs?|ribs?|babygram)\b", re.IGNORECASE)
# A comparison is made when a sentence relates this study to an earlier one; "no prior
# imaging for comparison" is the opposite.
_COMPARES = re.compile(
    r"\b(?:compared (?:with|to)|in comparison|prior (?:study|exam|examination|imaging|scan|CT|MRI?|radiograph|film|"
    r"mammograms?|ultrasound|US|LDCT|PET(?:/CT)?)|previous (?:study|exam|examination|imaging|scan|CT|MRI?|radiograph|film|"
    r"mammograms?|ultrasound|US|LDCT|PET(?:/CT)?)|previously (?:seen|noted|described|demonstrated|identified|reported|"
    r"visualized|present|measured|measuring|treated)|since (?:the )?(?:prior|previous|last)|"
    r"interval (?:change|increase|decrease|growth|development|enlargement|resolution|improvement|worsening|"
    r"progression|placement|insertion|removal|reduction|healing|clearing|appearance|migration|advancement|"
    r"retraction|repositioning|evolution|extubation|decompression|re-?expansion)|"
    r"interval(?:ly)? (?:increased|decreased|enlarged|improved|resolved|developed|grown|worsened|progressed|"
    r"placed|inserted|removed|healed|cleared|evolved|migrated|advanced|retracted|repositioned|re-?expanded)|"
    r"unchanged|again (?:seen|noted|demonstrated|identified|visualized|visualised|present|evident|shown)|"
    r"redemonstrat\w*|re-demonstrat\w*|"
    # "Comparison is made to the radiograph of yesterday"; a "Comparison: CT 06/2026" label inside a
    # flattened line (HL7 text without line breaks).
    r"comparisons? (?:is |was |has been )?(?:made )?(?:with|to)|"
    # "Comparison CT neck 3 months ago", "COMPARISON 11/02/2026" (dictated without a colon)
    r"comparisons?\s+(?:the\s+|an?\s+)?(?:prior\s+|previous\s+|outside\s+|recent\s+)?(?:CTA?|MRI?|MRA|PET(?:/CT)?|US|"
    r"ultrasound|radiographs?|x-?rays?|XR|CXR|films?|stud(?:y|ies)|exams?|examinations?|mammo\w*|\d+)|"
    r"comparisons?\s*:\s*(?!none|no\b|n/?a\b|not available|unavailable)(?=\S)|"
    # "similar to prior", "smaller than on the previous", "decreased from the most recent"
    r"(?:than|to|from|versus|vs\.?|on)(?: on)? (?:the )?(?:prior|previous|most recent|earlier)"
    r"(?: (?:one|study|exam|examination|imaging|scan|CT|MRI?|radiograph|film|images?|ultrasound|US|mammograms?|"
    r"PET(?:/CT)?))?(?=\s*[.,;:)]|\s*$|\s+(?:dated|from|of|on|at|obtained|performed|in)\b)|"
    r"similar (?:appearance|in (?:size|appearance))(?!\s+(?:to|as|with)\s+(?:the\s+)?(?:contralateral|opposite|"
    r"other|left|right))|"
    # "measures 8 mm, previously 6 mm"; "decreased since 10/2026"
    r"previously,? (?:up to )?\d+(?:\.\d+)?\s*(?:mm|cm)|"
    r"(?:increas|decreas|enlarg|smaller|larger|grow|grew|progress|improv|worse|resol|chang|stable|unchanged)\w*"
    r"[^.\n]{0,40}\bsince (?:the )?(?:\d+|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\w*\b)|"
    r"no (?:significant )?change|has (?:increased|decreased|"
    r"enlarged|resolved|improved|progressed)|(?:increased|decreased) (?:in size|from)|resolved|stable (?:compared|since|"
    r"from|in size|appearance)|"
    # "The nodule is stable", "Stable 8 mm lesion": a finding called stable was compared; "hemodynamically
    # stable" or "stable chest pain" was not.
    r"(?:is|are|remains?|remained|appears?|otherwise) (?:grossly |essentially |overall |largely )?stable|"
    r"stable (?:\d+(?:\.\d+)?\s*(?:mm|cm)|(?:small|large|mild|moderate|left|right|bilateral)\b|nodul\w*|lesions?|"
    r"mass(?:es)?|cysts?|nodes?|lymph\w*|effusions?|opacit\w*|findings?|post-?(?:operative|treatment)|appearance))\b",
    re.IGNORECASE,
)
_COMPARISON_LINE = re.compile(r"^\s*comparisons?\s*:\s*(?!none|no\b|n/?a\b|not available|unavailable)\S",
                              re.IGNORECASE | re.MULTILINE)
_NO_PRIOR = re.compile(r"\b(?:no|without) (?:prior|previous|comparison)|not available for comparison|"
                       r"\bnot available\b|\bunavailable\b|\bnone available\b|"
                       r"\bcomparisons?(?: stud(?:y|ies)| exams?| examinations?| images?)?\s*:\s*(?:none|n/?a)\b|"
                       r"comparisons?\s*:\s*(?:none|n/?a|not available|unavailable)\b", re.IGNORECASE)
# A separately sent comparison section that says there was nothing to compare with.
_NO_COMPARISON_FIELD = re.compile(r"^\s*(?:comparisons?\s*:\s*)?(?:none|no\b|n/?a\b|not available|unavailable)",
                                  re.IGNORECASE)


@dataclass(frozen=True)
class Plan:
    tasks: list[PlannedTask]
    rads_system: str | None

    @property
    def names(self) -> list[TaskName]:
        return [t.task for t in self.tasks]


def plan_report(report: RadiologyReport, requested: list[TaskName] | None = None) -> Plan:
    """The tasks to run for `report`; `requested` overrides the choice (and is kept as the reason)."""
    system, why = rads_system_for(report)
    if requested:
        return Plan([PlannedTask(task=t, reason="requested") for t in requested], system)

    text = report.text()
    exam = study_exam(report)  # a missing procedure or modality is read from the body's exam line
    procedure = exam.procedure
    modality = exam.modality or ""
    tasks: list[PlannedTask] = [PlannedTask(task=TaskName.radiology_ner, reason="entities are extracted from every report")]
    if system:
        tasks.append(PlannedTask(task=TaskName.rads_assignment, reason=why))
    context = procedure + "\n" + text
    if _states_a_stage(text):
        # The report writes an N or M stage (a screening CT's "hilar nodal metastasis, N1"): the statement is
        # shown whatever the exam, never dropped because the exam alone would plan no staging.
        reason = "the report states an N or M stage: N and M staging"
    elif (
        _oncologic(context)
        and not _SURVEILLANCE.search(context)
        and (
            (system not in _SCREENING_RADS and modality not in _NON_STAGING_MODALITIES)
            or re.search(r"\bstaging\b", context, re.IGNORECASE)
        )
    ):
        reason = "oncologic staging study: N and M staging"
    else:
        reason = ""
    if reason:
        tasks.append(PlannedTask(task=TaskName.n_staging, reason=reason))
        tasks.append(PlannedTask(task=TaskName.m_staging, reason=reason))
    if modality in {"CR", "DX"} and _chest_film(procedure, text):
        tasks.append(PlannedTask(task=TaskName.abnormality_detection, reason="chest radiograph: CheXpert labels"))
    if report.prior_text:
        tasks.append(PlannedTask(task=TaskName.temporal_comparison, reason="prior report text supplied"))
    elif compares_with_prior(report):
        tasks.append(PlannedTask(task=TaskName.temporal_comparison, reason="report compares with a prior study"))
    if report.findings and report.impression:
        tasks.append(PlannedTask(task=TaskName.radiology_nli, reason="check the impression against the findings"))
    if not report.impression:
        tasks.append(PlannedTask(task=TaskName.impression_generation, reason="report has no impression"))
    return Plan(tasks, system)


def _oncologic(context: str) -> bool:
    """A staging cue the report asserts: "No known malignancy" or "rule out malignancy" names no cancer.

    medspaCy ConText reads the cancer word of each cue (or the cue itself, "Restaging", "T2 N1"), as
    the applicability rules do; a suspected cancer ("suspicious for primary lung cancer") still counts.
    """
    if _METASTATIC_WORKUP.search(context):
        return True
    for rx in (_STAGING, _CANCER_INDICATION):
        for m in rx.finditer(context):
            words = list(_CANCER_WORD.finditer(context, m.start(), m.end()))
            if words and _NOT_A_CANCER.match(context, words[-1].end()):
                continue
            if asserted_at(context, *(words[-1].span() if words else m.span())):
                return True
    return False


def _chest_film(procedure: str, text: str) -> bool:
    if _CHEST_PROCEDURE.search(procedure):
        return True
    if body_regions(procedure):
        return False
    return bool(_CHEST.search(procedure) or _CHEST.search(text))


def _states_a_stage(text: str) -> bool:
    """Whether the report states an N or M stage for this study in TNM terms (not words alone: "no
    lymphadenopathy" is no staging request; history lines, hedges and prior stagings are no statement)."""
    return any(s is not None and s.kind == "stated" for s in (stated_n(text), stated_m(text)))


def compares_with_prior(report: RadiologyReport) -> bool:
    from models.text import split_sentences

    if report.comparison or _COMPARISON_LINE.search(report.body()):
        comparison = report.comparison or ""
        return not (_NO_PRIOR.search(comparison) or _NO_COMPARISON_FIELD.search(comparison))
    for sentence in split_sentences(report.text()):
        if _COMPARES.search(sentence) and not _NO_PRIOR.search(sentence):
            return True
    return False
