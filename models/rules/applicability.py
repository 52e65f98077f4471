"""Which RADS system applies to a study, and why; or that none does.

Shared by the planner (run rads_assignment only where a system applies) and the rules engine
(a study no RADS system covers, such as a chest radiograph or a head CT, has the answer
"No applicable RADS", which the published models may print and the evaluation scores).
Inputs are the modality, the procedure text and code, and the report text; when a report
comes with no procedure name, the exam line of its body ("EXAM: US THYROID") stands in.
"""

from __future__ import annotations

import re

from models.rules.exam import CODE_SYSTEMS, Exam, study_exam
from models.rules.rads import legend_ranges, stated_rads
from models.types import RadiologyReport

__all__ = ["Exam", "rads_system_for", "study_exam", "study_rads_system"]

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
        (r"\bLI-?RADS\b", r"\bLR-(?:[1-5]|M|TIV|TR|NC)\b", r"\bcirrho", r"\bHCC\b", r"\bhepatitis B\b", r"\bHBV\b"),
    ),
    "Lung-RADS": (
        frozenset({"CT"}),
        (r"\blung cancer screening\b", r"\bLCS\b", r"\bLDCT\b", r"\blow[- ]dose\b.*\bchest\b",
         r"\bchest\b.*\blow[- ]dose\b"),
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
_HN_CANCER = re.compile(r"\b(?:cancer|carcinoma|SCC|HNSCC|malignan\w*|neoplasm|sarcoma|melanoma|lymphoma)\b",
                        re.IGNORECASE)
_FEMALE_ADNEXA = re.compile(r"\b(?:ovar\w*|adnex\w*|uter\w*|endometri\w*|transvaginal|TVUS|LMP|menopaus\w*)",
                            re.IGNORECASE)
_NOT_ADNEXAL = re.compile(r"\b(?:prostat\w*|rect(?:al|um)|anal|bladder (?:tumou?r|cancer|mass|carcinoma|wall)|"
                          r"male patient|seminal|testi\w*|scrot\w*)\b", re.IGNORECASE)
# An adnexal lesion, the object of O-RADS US and MRI. O-RADS MRI scores an adnexal mass (a
# pelvic MRI for fibroids has none), and an obstetric US is not an O-RADS exam unless it
# describes one.
_ADNEXAL_LESION = re.compile(
    r"\b(?:adnex\w*|ovar\w*|para-?ovarian)\b[^.\n]{0,60}\b(?:mass\w*|cyst\w*|lesions?|tumou?rs?|neoplasm|"
    r"endometrioma\w*|dermoid\w*|teratoma\w*|cystadenoma\w*|hydrosalpin\w*|solid (?:component|tissue))\b|"
    r"\b(?:mass\w*|cyst\w*|lesions?|endometrioma\w*|dermoid\w*|teratoma\w*|cystadenoma\w*)\b[^.\n]{0,30}"
    r"\b(?:adnex\w*|ovar\w*)",
    re.IGNORECASE,
)
_PREGNANCY = re.compile(
    r"\b(?:pregnan\w*|IUP|gestation\w*|fetal|fetus|embryo\w*|CRL|crown[- ]rump|yolk sac|obstetric\w*|OB|"
    r"trimester)\b", re.IGNORECASE,
)
# A thyroid nodule described on any neck ultrasound is graded with TI-RADS; a gland without
# nodules, or a neck after total thyroidectomy, has nothing TI-RADS grades.
_THYROID_NODULE = re.compile(r"\bthyroid\b(?:[^.\n]|\.\d){0,60}\bnodul|\bnodul\w*\b(?:[^.\n]|\.\d){0,60}\bthyroid\b",
                             re.IGNORECASE)
_NODULE = re.compile(r"\b(?:nodul(?:e|es|ar)|cysts?|lesions?|mass(?:es)?)\b", re.IGNORECASE)
_THYROIDECTOMY = re.compile(r"(?<![\w-])(?:total |completion )?thyroidectomy\b|\bthyroid bed\b", re.IGNORECASE)
_PARTIAL_THYROIDECTOMY = re.compile(r"\b(?:hemi-?|partial |subtotal |near[- ]total )thyroidectomy|\blobectomy\b",
                                    re.IGNORECASE)
# PI-RADS v2.1 assesses the treatment-naive gland; after prostatectomy, radiation, focal
# therapy or androgen deprivation, recurrence has its own scheme (PI-RR), not PI-RADS.
_PROSTATE_TREATED = re.compile(
    r"\b(?:(?:radical )?prostatectomy|prostatectomy bed|(?:external beam )?radiation(?: therapy)?|radiotherapy|"
    r"EBRT|SBRT|IMRT|brachytherapy|seed implants?|HIFU|cryo(?:therapy|ablation)|focal (?:therapy|ablation)|"
    r"androgen deprivation|ADT)\b",
    re.IGNORECASE,
)
_PROSTATE_ZONES = re.compile(r"\b(?:peripheral|transition(?:al)?) zones?\b|\bPSA\b[^.\n]{0,40}\bprostat|"
                             r"\bprostat\w*\b[^.\n]{0,40}\bPSA\b", re.IGNORECASE)
# Lung-RADS is for lung cancer screening CT only (ACR): a low-dose CT needs a screening
# context, and a diagnostic chest CT with a nodule is managed by Fleischner, not Lung-RADS.
_SCREENING_CONTEXT = re.compile(r"\bscreen\w*|\bpack[- ]?y(?:ea)?rs?\b|\bpk[- ]?yrs?\b|\bLCS\b|\bLung-?RADS\b|"
                                r"\b(?:current|former|active|heavy|ex-?)[ -]?smok\w*|\bsmoking history\b",
                                re.IGNORECASE)
_LUNG_SCREENING = re.compile(r"\blung cancer screening\b|\bscreening (?:low[- ]dose )?(?:chest )?CT\b|"
                             r"\bLDCT\b[^.\n]{0,30}\bscreen", re.IGNORECASE)
_CHEST_CT = re.compile(r"\b(?:chest|thorax|thoracic|lungs?)\b", re.IGNORECASE)
# CAD-RADS grades stenosis on coronary CT angiography; a calcium score alone (no contrast) is
# scored with CAC-DRS, not CAD-RADS.
_CALCIUM_ONLY = re.compile(r"\bcalcium scor", re.IGNORECASE)
_ANGIO = re.compile(r"\bCTA\b|\bCCTA\b|angio", re.IGNORECASE)
# GB-RADS is for gallbladder wall thickening outside the acute setting.
_ACUTE_GB = re.compile(r"\bacute (?:calculous |acalculous |gangrenous )?cholecystitis\b|"
                       r"\bpositive sonographic murphy|\bsonographic murphy(?:'?s)? sign (?:is )?positive", re.IGNORECASE)
# LI-RADS CT/MRI lexicon words that show the study looks at liver observations.
_LIRADS_LEXICON = re.compile(r"\bobservations?\b|\barterial phase hyperenhanc\w*|\bAPHE\b|\bwashout\b|"
                             r"\benhancing capsule\b", re.IGNORECASE)
# A word is negated when its clause starts with a negation before it ("No morphologic
# features of cirrhosis", "without thyroid nodules"), or is a question ("evaluate for").
_NEGATION = re.compile(r"\b(?:no|not|without|negative for|absence of|absent|free of|rule out|r/o|"
                       r"evaluate for|eval for|no evidence of)\b", re.IGNORECASE)
_PLANNED = re.compile(r"\b(?:candidate for|planning|planned|plan(?:s)? for|prior to|before|pre-?op\w*|consider\w*|"
                      r"scheduled for|awaiting|referr\w* for|discuss\w*|eligib\w*|pending|recommend\w*|suggest\w*|"
                      r"advis\w*|would benefit|may benefit|if indicated)\b", re.IGNORECASE)
_CLAUSE_START = re.compile(r"[.;:\n]|\bbut\b|\bhowever\b", re.IGNORECASE)
# A system named only to say it does not apply ("Lung-RADS is not applicable to this diagnostic
# study"), or as the heading of a legend of its categories, is no statement about this study.
_NOT_APPLIED = re.compile(r"\bnot (?:applicable|appropriate|assigned|used|a screening)|\bdoes not apply\b|"
                          r"\bn/a\b|\binapplicable\b", re.IGNORECASE)
_LEGEND_HEAD = 60  # characters between a system's name and the first entry of its legend

def _negated_at(text: str, start: int) -> bool:
    """Whether the clause running up to `start` negates what follows it."""
    lead = text[max(0, start - 80) : start]
    starts = list(_CLAUSE_START.finditer(lead))
    return bool(_NEGATION.search(lead[starts[-1].end() :] if starts else lead))


def _affirmed(pattern: re.Pattern[str] | str, text: str) -> re.Match[str] | None:
    """The first match of `pattern` in `text` that its clause does not negate."""
    rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    return next((m for m in rx.finditer(text) if not _negated_at(text, m.start())), None)


def _done(pattern: re.Pattern[str], text: str) -> bool:
    """Whether the report says a treatment (or this screening) was done: not negated, planned or recommended."""
    for m in pattern.finditer(text):
        lead = text[max(0, m.start() - 80) : m.start()]
        starts = list(_CLAUSE_START.finditer(lead))
        clause = lead[starts[-1].end() :] if starts else lead
        if not (_NEGATION.search(clause) or _PLANNED.search(clause)):
            return True
    return False


def _names_system(pattern: str, text: str) -> bool:
    """Whether the report names a system for this study: not only in a legend, nor to say it does not apply."""
    legends = [a for a, _b in legend_ranges(text)]
    for m in re.finditer(pattern, text, re.IGNORECASE):
        start = max(text.rfind(c, 0, m.start()) for c in ".\n;")
        ends = [e for e in (text.find(c, m.end()) for c in ".\n;") if e >= 0]
        sentence = text[start + 1 : min(ends) if ends else len(text)]
        if _NOT_APPLIED.search(sentence):
            continue
        if any(0 <= a - m.end() <= _LEGEND_HEAD for a in legends):
            continue
        return True
    return False


def _gate(system: str, procedure: str, text: str, cues: tuple[str, ...], modality: str | None) -> bool:
    """Whether a system whose procedure cue matched applies to this patient and question."""
    context = procedure + "\n" + text
    if system == "LI-RADS":
        # LI-RADS applies only to patients at risk of HCC (cirrhosis, chronic hepatitis B, HCC).
        return any(_affirmed(c, text) for c in cues)
    if system == "Lung-RADS":
        if re.search(r"\blung cancer screening\b|\bLCS\b|\bscreen", procedure, re.IGNORECASE):
            return True
        return bool(_affirmed(_SCREENING_CONTEXT, context)) and not _NOT_APPLIED.search(text)
    if system == "TI-RADS":
        if _done(_THYROIDECTOMY, context) and not _PARTIAL_THYROIDECTOMY.search(context):
            return False
        return bool(_affirmed(_NODULE, text))
    if system == "PI-RADS":
        return not _done(_PROSTATE_TREATED, context)
    if system == "CAD-RADS":
        return not (_CALCIUM_ONLY.search(procedure) and not _ANGIO.search(procedure))
    if system == "GB-RADS":
        return not _affirmed(_ACUTE_GB, text)
    if system == "NI-RADS":
        return bool(_HEAD_NECK_SITE.search(context) and _TREATED.search(context) and _HN_CANCER.search(context))
    if system == "O-RADS":
        named = _any(cues[:1], procedure + "\n" + text)
        lesion = bool(_any(cues[1:], procedure) or _affirmed(_ADNEXAL_LESION, text))
        if named:
            return True
        if _PREGNANCY.search(context) or modality == "MR":
            return lesion or bool(re.search(r"\bovar|\badnex", procedure, re.IGNORECASE))
        if lesion or re.search(r"\bovar|\badnex|\btransvaginal\b|\bTVUS\b", procedure, re.IGNORECASE):
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
    """The system the study itself calls for (names, procedure, code, modality), when the report states no category."""
    exam = study_exam(report)
    procedure, modality = exam.procedure, exam.modality
    text = report.text()
    for system, (_modalities, _proc_cues, text_cues) in _RADS_CUES.items():
        if _names_system(text_cues[0], text):
            return system, f"report names {system}"
    if exam.code in CODE_SYSTEMS:
        system = CODE_SYSTEMS[exam.code]
        return system, f"procedure code {exam.code} is a {system} exam"
    for system, (modalities, proc_cues, text_cues) in _RADS_CUES.items():
        if modalities is not None and modality and modality not in modalities:
            continue
        if _any(proc_cues, procedure) and _gate(system, procedure, text, text_cues, modality):
            return system, f"{system} applies to this procedure"
    if modality == "MG":
        return "BI-RADS", "mammography"
    if modality == "US" and _thyroid_nodule(text) and _gate("TI-RADS", procedure, text, (), modality):
        return "TI-RADS", "ultrasound describes a thyroid nodule"
    if modality == "CT" and (not procedure or _CHEST_CT.search(procedure)) and _done(_LUNG_SCREENING, text):
        return "Lung-RADS", "chest CT for lung cancer screening"
    if modality in {"CT", "MR"} and not re.search(r"\bchest\b|\bhead\b|\bbrain\b|\bneck\b", procedure, re.IGNORECASE):
        if _gate("LI-RADS", procedure, text, _RADS_CUES["LI-RADS"][2], modality) and _LIRADS_LEXICON.search(text):
            return "LI-RADS", "liver observations in a patient at risk of HCC"
    if modality == "MR" and _affirmed(_PROSTATE_ZONES, text) and _gate("PI-RADS", procedure, text, (), modality) \
            and not re.search(r"\bbladder\b|\brect(?:al|um)\b", procedure, re.IGNORECASE):
        return "PI-RADS", "prostate MRI of the peripheral and transition zones"
    if modality in {"CT", "MR", "PT"} and _gate("NI-RADS", procedure, text, (), modality) and _neck_study(procedure, text):
        return "NI-RADS", "surveillance imaging after treatment of a head and neck cancer"
    return None, "no RADS system applies to this study"


def _thyroid_nodule(text: str) -> bool:
    """A thyroid nodule the report describes ("Thyroid: 1.5 cm nodule"), not one it negates ("Thyroid: no nodules")."""
    for m in _THYROID_NODULE.finditer(text):
        if not _NEGATION.search(m.group(0)) and not _negated_at(text, m.start()):
            return True
    return False


def _neck_study(procedure: str, text: str) -> bool:
    """The study images the neck: its procedure says so, or (with no procedure) its body does.

    'head and neck' in a history names the cancer, not the region of this study.
    """
    if procedure:
        return bool(re.search(r"\bneck\b|\bskull base\b", procedure, re.IGNORECASE))
    return bool(re.search(r"\bneck\b|\bskull base\b", re.sub(r"head (?:and|&) neck", "", text, flags=re.IGNORECASE),
                          re.IGNORECASE))
