"""Which of the nine tasks apply to a report, and why.

The plan is deterministic and explainable: each planned task carries the reason it was
chosen, and the plan is stored with the results. Inputs are the modality, the procedure
text and the report text; nothing here runs a model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.types import PlannedTask, RadiologyReport, TaskName

# RADS system -> (modalities it applies to or None for any, procedure/text cues). A cue in
# the procedure name (or the report naming the system) is enough; the report body is
# matched on the stronger anatomical phrases only, so a chest CT mentioning "liver" in
# passing does not get LI-RADS. Organ-specific systems come before O-RADS, whose "pelvis"
# cue is the least specific: a bladder or prostate MRI of the pelvis is VI-/PI-RADS.
_RADS_CUES: dict[str, tuple[frozenset[str] | None, tuple[str, ...], tuple[str, ...]]] = {
    "BI-RADS": (None, (r"\bbreast\b", r"\bmammo", r"\btomosynthesis\b", r"\bMG\b"), (r"\bBI-?RADS\b",)),
    "LI-RADS": (
        frozenset({"CT", "MR", "US"}),
        (r"\bliver\b", r"\bhepat", r"\babdomen\b.*\b(multiphase|triphasic|LAVA|eovist|gadoxetate)"),
        (r"\bLI-?RADS\b", r"\bLR-(?:[1-5]|M|TIV|TR|NC)\b", r"\bcirrho", r"\bHCC\b", r"\bhepatitis B\b"),
    ),
    "Lung-RADS": (
        frozenset({"CT"}),
        (r"\blung cancer screening\b", r"\bLDCT\b", r"\blow[- ]dose\b.*\bchest\b", r"\bchest\b.*\blow[- ]dose\b"),
        (r"\bLung-?RADS\b",),
    ),
    "TI-RADS": (frozenset({"US"}), (r"\bthyroid\b",), (r"\bTI-?RADS\b", r"\bTR[1-5]\b")),
    "PI-RADS": (frozenset({"MR"}), (r"\bprostat",), (r"\bPI-?RADS\b",)),
    "VI-RADS": (frozenset({"MR"}), (r"\bbladder\b",), (r"\bVI-?RADS\b",)),
    "NI-RADS": (frozenset({"CT", "MR", "PT"}), (r"\bneck\b",), (r"\bNI-?RADS\b",)),
    "CAD-RADS": (frozenset({"CT"}), (r"\bcoronary\b", r"\bCCTA\b", r"\bcardiac CT"), (r"\bCAD-?RADS\b",)),
    "GB-RADS": (frozenset({"US"}), (r"\bgallbladder\b", r"\bRUQ\b", r"\bright upper quadrant\b"), (r"\bGB-?RADS\b",)),
    "O-RADS": (
        frozenset({"US", "MR"}),
        (r"\bovar", r"\badnex", r"\btransvaginal\b", r"\bTVUS\b", r"\bpelvi"),
        (r"\bO-?RADS\b", r"\badnexal\b", r"\bovarian (?:cyst|mass|lesion)"),
    ),
}

# Gates a procedure cue alone does not pass. NI-RADS grades surveillance after treatment
# of a head and neck cancer (ACR NI-RADS): a neck CT for an abscess, or the initial
# staging of a new cancer, has no NI-RADS category. A pelvis study gets O-RADS only when
# it looks at female adnexa; a male pelvis, a rectal cancer MRI or a bladder MRI does not.
_HEAD_NECK_SITE = re.compile(
    r"\b(?:head and neck|H&N|HNSCC|oropharyn\w*|nasopharyn\w*|hypopharyn\w*|laryn\w*|glottic|supraglottic|"
    r"tonsil\w*|base of (?:the )?tongue|tongue|oral cavity|floor of (?:the )?mouth|parotid|sinonasal|palat\w*)",
    re.IGNORECASE,
)
_TREATED = re.compile(
    r"\b(?:post[- ]?treatment|surveillance|(?:chemo)?radiation|chemoradiotherapy|radiotherapy|XRT|IMRT|"
    r"neck dissection|resection|resected|laryngectomy|glossectomy|flap|s/p|status post|treated|recurren\w*)\b",
    re.IGNORECASE,
)
_FEMALE_ADNEXA = re.compile(r"\b(?:ovar\w*|adnex\w*|uter\w*|endometri\w*|transvaginal|TVUS|LMP|menopaus\w*)",
                            re.IGNORECASE)
_NOT_ADNEXAL = re.compile(r"\b(?:prostat\w*|rect(?:al|um)|anal|bladder (?:tumou?r|cancer|mass|carcinoma|wall)|"
                          r"male patient|seminal|testi\w*|scrot\w*)\b", re.IGNORECASE)
# A thyroid nodule described on any neck ultrasound is graded with TI-RADS.
_THYROID_NODULE = re.compile(r"\bthyroid\b(?:[^.\n]|\.\d){0,60}\bnodul|\bnodul\w*\b(?:[^.\n]|\.\d){0,60}\bthyroid\b",
                             re.IGNORECASE)


def _gate(system: str, procedure: str, text: str, cues: tuple[str, ...]) -> bool:
    """Whether a system whose procedure cue matched applies to this patient and question."""
    context = procedure + "\n" + text
    if system == "LI-RADS":
        return _any(cues, text) is not None  # LI-RADS applies only to patients at risk of HCC
    if system == "NI-RADS":
        return bool(_HEAD_NECK_SITE.search(context) and _TREATED.search(context))
    if system == "O-RADS":
        specific = _any(cues[:4], procedure) or _any(cues[1:], text)
        if specific:
            return True
        return bool(_FEMALE_ADNEXA.search(context)) and not _NOT_ADNEXAL.search(context)
    return True


# Staging applies to pre-treatment oncologic studies: an explicit staging request, a known
# or newly diagnosed cancer, or a report that itself speaks in TNM terms. Words such as
# "no evidence of malignancy" in a screening report are not enough.
_CANCER = r"(?:carcinoma|cancer|malignancy|adenocarcinoma|lymphoma|melanoma|sarcoma|neoplasm|tumou?r)"
_STAGING = re.compile(
    r"\b(?:re)?staging\b|\bmetastatic (?:work-?up|survey)\b|"
    rf"\b(?:known|newly diagnosed|biopsy[- ]proven|suspected|presumed|primary)\b[^.\n]{{0,60}}\b{_CANCER}|"
    rf"\b(?:consistent with|compatible with|suspicious for|concerning for|highly suggestive of)\b[^.\n]{{0,40}}\b{_CANCER}|"
    r"\bresectab|"
    rf"\b{_CANCER}\b[^.\n]{{0,40}}\b(?:staging|for staging|evaluate (?:for )?(?:spread|metastas[ie]s))|"
    r"\b[cpy]?T[0-4][a-c]?\s*N[0-3x]|\bN[0-3][abc]?\b[^.\n]{0,20}\bM[01x]\b",
    re.IGNORECASE,
)
_SURVEILLANCE = re.compile(
    r"\b(?:post[- ]?treatment|surveillance|NI-?RADS|status post (?:resection|chemo|radiation))", re.IGNORECASE
)
_SCREENING_RADS = {"BI-RADS", "Lung-RADS", "TI-RADS", "GB-RADS", "CAD-RADS", "O-RADS"}
_NON_STAGING_MODALITIES = {"CR", "DX", "MG"}
_CHEST = re.compile(r"\b(chest|thorax|thoracic|lungs?|CXR|portable AP|PA and lateral)\b", re.IGNORECASE)
# A comparison is made when a sentence relates this study to an earlier one; "no prior
# imaging for comparison" is the opposite.
_COMPARES = re.compile(
    r"\b(?:compared (?:with|to)|in comparison|prior (?:study|exam|examination|imaging|scan|CT|MRI?|radiograph|film|"
    r"mammograms?|ultrasound|US|LDCT)|previous(?:ly)?|since (?:the )?(?:prior|previous|last)|"
    r"interval (?:change|increase|decrease|growth|development|enlargement|resolution|improvement)|"
    r"interval(?:ly)? (?:increased|decreased|enlarged|improved|resolved|developed|grown)|"
    r"unchanged|again (?:seen|noted|demonstrated|identified)|no (?:significant )?change|has (?:increased|decreased|"
    r"enlarged|resolved|improved|progressed)|(?:increased|decreased) (?:in size|from)|resolved|stable (?:compared|since|"
    r"from|in size|appearance))\b",
    re.IGNORECASE,
)
_COMPARISON_LINE = re.compile(r"^\s*comparisons?\s*:\s*(?!none|no\b|n/?a\b|not available)\S", re.IGNORECASE | re.MULTILINE)
_NO_PRIOR = re.compile(r"\b(?:no|without) (?:prior|previous|comparison)|not available for comparison|comparison\s*:\s*none",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Plan:
    tasks: list[PlannedTask]
    rads_system: str | None

    @property
    def names(self) -> list[TaskName]:
        return [t.task for t in self.tasks]


def _any(patterns: tuple[str, ...], text: str) -> str | None:
    for p in patterns:
        if re.search(p, text, re.IGNORECASE):
            return p
    return None


def rads_system_for(report: RadiologyReport) -> tuple[str | None, str]:
    """The RADS system that applies to the study, with the reason; (None, why) when none does."""
    from models.rules.rads import stated_rads  # the rules engine's reader of every system's spellings

    stated = stated_rads(report)
    if stated is not None:
        return stated.system, f"report states {stated.system} {stated.category}"
    procedure = report.procedure or ""
    text = report.text()
    modality = (report.modality or "").upper()
    for system, (_modalities, _proc_cues, text_cues) in _RADS_CUES.items():
        named = _any(text_cues[:1], text)
        if named:
            return system, f"report names {system}"
    for system, (modalities, proc_cues, text_cues) in _RADS_CUES.items():
        if modalities is not None and modality and modality not in modalities:
            continue
        if _any(proc_cues, procedure) and _gate(system, procedure, text, text_cues):
            return system, f"{system} applies to this procedure"
    if modality == "MG":
        return "BI-RADS", "mammography"
    if modality == "US" and _THYROID_NODULE.search(text):
        return "TI-RADS", "ultrasound describes a thyroid nodule"
    if modality in {"CT", "MR", "PT"} and _gate("NI-RADS", procedure, text, ()) and re.search(
        r"\bneck\b|\bskull base\b", procedure + "\n" + text, re.IGNORECASE
    ):
        return "NI-RADS", "surveillance imaging after treatment of a head and neck cancer"
    return None, "no RADS system applies to this study"


def plan_report(report: RadiologyReport, requested: list[TaskName] | None = None) -> Plan:
    """The tasks to run for `report`; `requested` overrides the choice (and is kept as the reason)."""
    system, why = rads_system_for(report)
    if requested:
        return Plan([PlannedTask(task=t, reason="requested") for t in requested], system)

    text = report.text()
    procedure = report.procedure or ""
    modality = (report.modality or "").upper()
    tasks: list[PlannedTask] = [PlannedTask(task=TaskName.radiology_ner, reason="entities are extracted from every report")]
    if system:
        tasks.append(PlannedTask(task=TaskName.rads_assignment, reason=why))
    context = procedure + "\n" + text
    if (
        _STAGING.search(context)
        and not _SURVEILLANCE.search(context)
        and (
            (system not in _SCREENING_RADS and modality not in _NON_STAGING_MODALITIES)
            or re.search(r"\bstaging\b", context, re.IGNORECASE)
        )
    ):
        reason = "oncologic staging study: N and M staging"
        tasks.append(PlannedTask(task=TaskName.n_staging, reason=reason))
        tasks.append(PlannedTask(task=TaskName.m_staging, reason=reason))
    if modality in {"CR", "DX"} and (_CHEST.search(procedure) or _CHEST.search(text)):
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


def compares_with_prior(report: RadiologyReport) -> bool:
    from models.text import split_sentences

    if report.comparison or _COMPARISON_LINE.search(report.body()):
        return not _NO_PRIOR.search(report.comparison or "")
    for sentence in split_sentences(report.text()):
        if _COMPARES.search(sentence) and not _NO_PRIOR.search(sentence):
            return True
    return False
