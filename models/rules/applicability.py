"""Which RADS system applies to a study, and why; or that none does.

Shared by the planner (run rads_assignment only where a system applies) and the rules engine
(a study no RADS system covers, such as a chest radiograph or a head CT, has the answer
"No applicable RADS", which the published models may print and the evaluation scores).
Inputs are the modality, the procedure text and the report text.
"""

from __future__ import annotations

import re

from models.rules.rads import stated_rads
from models.types import RadiologyReport

__all__ = ["rads_system_for", "study_rads_system"]

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


def _any(patterns: tuple[str, ...], text: str) -> str | None:
    for p in patterns:
        if re.search(p, text, re.IGNORECASE):
            return p
    return None


def rads_system_for(report: RadiologyReport) -> tuple[str | None, str]:
    """The RADS system that applies to the study, with the reason; (None, why) when none does."""
    stated = stated_rads(report)
    if stated is not None:
        return stated.system, f"report states {stated.system} {stated.category}"
    return study_rads_system(report)


def study_rads_system(report: RadiologyReport) -> tuple[str | None, str]:
    """The system the study itself calls for (names, procedure, modality), when the report states no category."""
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
