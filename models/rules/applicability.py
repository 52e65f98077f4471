"""Which RADS system applies to a study, and why; or that none does.

Shared by the planner (run rads_assignment only where a system applies) and the rules engine
(a study no RADS system covers, such as a chest radiograph or a head CT, has the answer
"No applicable RADS", which the published models may print and the evaluation scores).
Inputs are the modality, the procedure text and code, and the report text; when a report
comes with no procedure name, the exam line of its body ("EXAM: US THYROID") stands in.
"""

from __future__ import annotations

import functools
import re

from models.rules.clinical_nlp import span_modifiers
from models.rules.exam import CODE_SYSTEMS, Exam, study_exam
from models.rules.rads import legend_ranges, stated_rads
from models.text import sentence_spans
from models.types import RadiologyReport

__all__ = ["Exam", "asserted_at", "rads_system_for", "study_exam", "study_rads_system"]

# RADS system -> (modalities it applies to or None for any, procedure/text cues). A cue in
# the procedure name (or the report naming the system) is enough; the report body is
# matched on the stronger anatomical phrases only, so a chest CT mentioning "liver" in
# passing does not get LI-RADS. Organ-specific systems come before O-RADS, whose "pelvis"
# cue is the least specific: a bladder or prostate MRI of the pelvis is VI-/PI-RADS.
_RADS_CUES: dict[str, tuple[frozenset[str] | None, tuple[str, ...], tuple[str, ...]]] = {
    # BI-RADS covers mammography (MG, or CR/DX from older plates), breast US and breast MRI; a "BREAST"
    # in a CT, PET/CT or lymphoscintigraphy procedure names the cancer being staged, not a breast exam.
    # OT (other) is how many archives label an outside study sent for a second read.
    "BI-RADS": (frozenset({"MG", "US", "MR", "CR", "DX", "OT"}),
                (r"\bbreast\b", r"\bmammo", r"\btomosynthesis\b", r"\bMG\b"), (r"\bBI-?RADS\b",)),
    # LI-RADS CT/MRI (the labelled categories LR-1..5, M, TIV, TR): a non-contrast liver ultrasound is
    # graded with US LI-RADS (US-1/2/3, surveillance only), whose categories are not among the labels.
    "LI-RADS": (
        frozenset({"CT", "MR"}),
        (r"\bliver\b", r"\bhepat", r"\babdomen\b.*\b(multiphase|triphasic|LAVA|eovist|gadoxetate)"),
        (r"\bLI-?RADS\b", r"\bLR-(?:[1-5]|M|TIV|TR|NC)\b", r"\bcirrho", r"\bHCC\b", r"\bhepatitis B\b", r"\bHBV\b"),
    ),
    "Lung-RADS": (
        frozenset({"CT"}),
        (r"\blung cancer screening\b", r"\bLCS\b", r"\bLDCT\b", r"\blow[- ]dose\b.*\b(?:chest|lungs?|thorax)\b",
         r"\b(?:chest|lungs?|thorax)\b.*\blow[- ]dose\b", r"\blung\b.*\bscreen"),
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
# it looks at female adnexa outside the acute setting (in pregnancy, or on MRI, only with an adnexal lesion);
# a male pelvis, a rectal cancer MRI or a bladder MRI does not.
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
# An adnexal lesion, the object of O-RADS US and MRI ("Right ovary: 3.2 cm cyst": a decimal point
# does not end the sentence). O-RADS MRI scores an adnexal mass (a pelvic MRI for fibroids has none).
_ADNEXAL_LESION = re.compile(
    r"\b(?:adnex\w*|ovar\w*|para-?ovarian)\b(?:[^.\n]|\.\d){0,60}\b(?P<cue>mass\w*|cyst\w*|lesions?|tumou?rs?|neoplasm|"
    r"endometrioma\w*|dermoid\w*|teratoma\w*|cystadenoma\w*|hydrosalpin\w*|solid (?:component|tissue))\b|"
    r"\b(?P<cue2>mass\w*|cyst\w*|lesions?|endometrioma\w*|dermoid\w*|teratoma\w*|cystadenoma\w*)\b(?:[^.\n]|\.\d){0,30}"
    r"\b(?:adnex\w*|ovar\w*)",
    re.IGNORECASE,
)
# O-RADS US (ACR v2022) risk-stratifies adnexal lesions in average-risk patients without acute symptoms; it is
# not applied in the acute setting (suspected torsion, ectopic pregnancy, pelvic inflammatory disease or a
# tubo-ovarian abscess, acute pain, a ruptured cyst with hemoperitoneum) nor in pregnancy. A question about an
# acute condition ("rule out torsion", "evaluate for ectopic") is the acute setting; a negated or past one is not.
_ADNEXAL_ACUTE = re.compile(
    r"\b(?:torsion|torsed|whirlpool sign|ectopic(?! (?:kidney|pelvic kidney|ureter\w*|thyroid|spleen))|"
    r"PID|pelvic inflammatory disease|tubo-?ovarian abscess\w*|TOA|pyosalpin\w*|salpingitis|oophoritis|pelvic abscess\w*|"
    r"hemoperitoneum|ruptured (?:(?:ovarian|hemorrhagic|corpus luteum|adnexal) )*cyst|postpartum hemorrhage|"
    r"retained products(?: of conception)?|RPOC|pregnancy of unknown location|PUL|"
    r"(?:acute|sudden(?:[- ]onset)?|severe)(?:[ -]+(?:onset|of|new|right|left|bilateral|RLQ|LLQ|lower|pelvic|abdominal|"
    r"adnexal|ovarian|quadrant|sided|side))*[ -]+pain)\b",
    re.IGNORECASE,
)
# Pregnancy as reports write it; "pregnancy test negative", "non-pregnant" and "denies pregnancy" are no pregnancy.
_PREGNANCY = re.compile(
    r"(?<!non-)(?<!non )\b(?:pregnan\w*\b(?! tests?)|IUP|gestation\w*|fetal(?! lobulation)|fetus\w*|embryos?\b|CRL|crown[- ]rump|"
    r"yolk sac|trimester|\d+ ?w(?:ee)?ks? (?:pregnant|gestation|GA|by LMP)|\d+w\d+d|miscarriage|subchorionic|"
    r"(?:threatened|missed|incomplete|spontaneous) abortion|products of conception|"
    r"positive (?:urine |serum )?(?:pregnancy test|UPT|(?:beta[- ]?|\u03b2-?|b-?|quantitative |quant )?hCG)|"
    r"(?:beta[- ]?|\u03b2-?|b-?|quantitative |quant |serum )?hCG(?: level)?\s*(?:is |was |of |:|=)?\s*"
    r"(?:positive|elevated|rising|(?:[5-9]|[1-9][\d,]+)\b))",
    re.IGNORECASE,
)
_OB_PROCEDURE = re.compile(r"\bOB\b|\bobstetric\w*|\bfetal\b|\bpregnan\w*|\bBPP\b|\bbiophysical\b", re.IGNORECASE)
# A thyroid nodule described on any neck ultrasound is graded with TI-RADS; a gland without
# nodules, or a neck after total thyroidectomy, has nothing TI-RADS grades.
_THYROID_NODULE = re.compile(r"\bthyroid\b(?:[^.\n]|\.\d){0,60}\b(?P<cue>nodul\w*)|"
                             r"\b(?P<cue2>nodul\w*)\b(?:[^.\n]|\.\d){0,60}\bthyroid\b", re.IGNORECASE)
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
# Contrast in a procedure name: "W CONTRAST", "W/ IV CON", "W WO", "WITH AND WITHOUT", a CT angiogram.
_CONTRAST_ENHANCED = re.compile(
    r"\b(?:W|WITH)(?:\s+AND\s+|\s*/\s*|\s*&\s*|\s+)(?:W/?O|WITHOUT)\b|\b(?:W|WITH|W/)\s*(?:IV\s+)?(?:CONTRAST|CONT|CON)\b|"
    r"\bCTA\b|\bangiogra\w*", re.IGNORECASE)
# CAD-RADS grades stenosis on coronary CT angiography; a calcium score alone (no contrast) is
# scored with CAC-DRS, not CAD-RADS.
_CALCIUM_ONLY = re.compile(r"\bcalcium scor", re.IGNORECASE)
_ANGIO = re.compile(r"\bCTA\b|\bCCTA\b|angio", re.IGNORECASE)
# GB-RADS is for gallbladder wall thickening outside the acute setting: acute (calculous, acalculous,
# gangrenous, emphysematous) cholecystitis, a positive sonographic Murphy sign or a perforated gallbladder
# is not graded. Chronic and xanthogranulomatous cholecystitis are wall-thickening diseases it grades.
_ACUTE_GB = re.compile(
    r"(?<!chronic )(?<!chronic calculous )(?<!chronic acalculous )(?<!xanthogranulomatous )\b(?:(?:acute|emphysematous|gangrenous) )?(?:(?:calculous|acalculous|"
    r"gangrenous|emphysematous) )?cholecystitis\b|\bpositive sonographic murphy|"
    r"\bsonographic murphy(?:'?s)? sign (?:is |was )?positive|\bgallbladder perforation|\bperforated gallbladder",
    re.IGNORECASE)
_LIRADS_EXCLUDED = re.compile(
    r"\bcongenital hepatic fibrosis\b|\bBudd[- ]Chiari\b|\bhereditary hemorrhagic telangiectasia\b|\bHHT\b|"
    r"\bFontan\b|\b(?:cardiac|congestive) (?:cirrhosis|hepatopathy)\b|\bnodular regenerative hyperplasia\b",
    re.IGNORECASE)
# A patient's age as reports write it ("62-year-old", "34 y/o", "62M"), and pediatric procedure names.
_AGE = re.compile(r"\b(?P<n>\d{1,3})[- ]?(?:years?|yrs?|y)[- ]?old\b|\b(?P<n2>\d{1,3}) ?(?:yo|y/o|y\.o\.)(?!\w)|"
                  r"\b\d{1,2}[- ]?(?P<young>months?|weeks?|days?|mo)[- ]?old\b", re.IGNORECASE)
# "62M", "34 F" only where a history line starts: elsewhere "14 F" is a catheter's French size.
_AGE_SEX = re.compile(r"(?:^|\b(?:history|indication|clinical(?: history| information)?|reason(?: for exam)?)\s*:\s*)"
                      r"(?P<n>\d{1,3}) ?[MF](?=[\s,.;:)/]|$)", re.IGNORECASE | re.MULTILINE)
_PEDIATRIC_PROCEDURE = re.compile(r"\bPEDS?\b|\bpediatric\b|\bpaediatric\b|\bneonat\w*|\binfant\b", re.IGNORECASE)
# GB-RADS grades gallbladder wall thickening (Gupta et al. 2022), not polyps, stones or a normal gallbladder:
# wall thickening described in a sentence about the gallbladder ("Gallbladder: diffuse wall thickening",
# "thick-walled gallbladder", "The wall is thickened" after a sentence about it), a gallbladder wall over 3 mm,
# and the wall diseases themselves (adenomyomatosis, intramural cysts or comet-tail foci, xanthogranulomatous
# cholecystitis). The wall of another organ ("duodenal wall thickening") is not the gallbladder's.
_GB_WORD = re.compile(r"\b(?:gall ?bladder|GB)\b|\bcholecyst(?!ectom)\w*", re.IGNORECASE)
_GB_WALL_CUE = re.compile(
    r"\b(?P<cue>thicken\w*(?! (?:bile|sludge|secretions|contents))|thick[- ]walled|(?:mural|wall) thickness(?= (?:is )?(?:increased|abnormal))|"
    r"intramural (?:cysts?|cystic spaces|diverticul\w*|echogenic foci|foci)|comet[- ]tail\w*|"
    r"(?P<own>adenomyomat\w*|Rokitansky[- ]Aschoff\w*|xanthogranulomatous cholecystitis))\b",
    re.IGNORECASE)
_GB_WALL_MM = re.compile(r"\b(?:gall ?bladder|GB):?\s+wall(?: thickness)?(?: measures| measuring| is| of| at| up to|"
                         r" thickness|:|\(|\s)*(?P<cue>\d+(?:\.\d+)?)\s*(?P<unit>mm|cm)\b|"
                         r"^\W*(?:the )?wall(?: thickness)?(?: measures| measuring| is| of| at| up to|:|\(|\s)*"
                         r"(?P<cue2>\d+(?:\.\d+)?)\s*(?P<unit2>mm|cm)\b", re.IGNORECASE)
_OTHER_ORGAN = re.compile(
    r"\b(?:bowel|colon\w*|duoden\w*|gastric|stomach|antr\w*|jejun\w*|ile(?:um|al)|appendi\w*|(?<!gall)(?<!gall )bladder|"
    r"cec(?:um|al)|sigmoid|rect(?:um|al)|esophag\w*|bile ducts?|CBD|(?:common )?(?:bile|hepatic) duct|ureter\w*|"
    r"aort\w*|endometri\w*|uter\w*|myometri\w*|thyroid|pylor\w*|loops?|pleura\w*|periton\w*|omentum|omental|"
    r"mesenter\w*|skin|subcutaneous|fascia\w*|kidneys?|renal)\b", re.IGNORECASE)
_GB_NORMAL_MM = 3.0  # a gallbladder wall up to 3 mm is normal
# US LI-RADS (ultrasound surveillance, categories US-1/2/3) named or used: not the CT/MRI system.
_US_LIRADS = re.compile(r"\b(?:US|ultrasound|sonographic)[ -]+LI-?RADS\b|\bLI-?RADS[ -]+(?:US|ultrasound)\b|"
                        r"\bUS-[1-3]\b", re.IGNORECASE)
# LI-RADS CT/MRI lexicon words that show the study looks at liver observations.
_LIRADS_LEXICON = re.compile(r"\bobservations?\b|\barterial phase hyperenhanc\w*|\bAPHE\b|\bwashout\b|"
                             r"\benhancing capsule\b", re.IGNORECASE)
# Negation, hedges and requests are read by medspaCy ConText with the radiology rules the CheXpert
# labeler uses (models/rules/clinical_nlp.py), on the sentence that holds the cue. ConText has no rule
# for a treatment that is planned, discussed or recommended rather than done ("candidate for radical
# prostatectomy", "planning thyroidectomy", "prior to radiation"): the clause check below covers that
# one question, for the treatments the gates ask about.
_PLANNED = re.compile(r"\b(?:candidate for|planning|planned|plan(?:s)? for|prior to|before|pre-?op\w*|consider\w*|"
                      r"scheduled for|awaiting|referr\w* for|discuss\w*|eligib\w*|pending|recommend\w*|suggest\w*|"
                      r"advis\w*|would benefit|may benefit|if indicated)\b", re.IGNORECASE)
_CLAUSE_START = re.compile(r"[.;:\n]|\bbut\b|\bhowever\b", re.IGNORECASE)
# ConText rules that ask a question rather than hedge a finding: "rule out HCC" and "r/o" are
# POSSIBLE_EXISTENCE in medspaCy's rules, like "possible cirrhosis", but they request the answer.
_REQUEST_RULES = frozenset({"rule out", "rule the patient out", "r/o", "may be ruled out for", "is to be ruled out",
                            "what must be ruled out is"})
# A system named only to say it does not apply ("Lung-RADS is not applicable to this diagnostic
# study"), or as the heading of a legend of its categories, is no statement about this study.
_NOT_APPLIED = re.compile(r"\bnot (?:applicable|appropriate|assigned|used|a screening)|\bdoes not apply\b|"
                          r"\bn/a\b|\binapplicable\b", re.IGNORECASE)
_LEGEND_HEAD = 60  # characters between a system's name and the first entry of its legend

@functools.lru_cache(maxsize=64)
def _sentences(text: str) -> tuple[tuple[int, int], ...]:
    return tuple(sentence_spans(text))


def asserted_at(text: str, start: int, end: int) -> bool:
    """Whether ConText reads the words at `text[start:end]` as asserted: not negated, not asked about.

    A hedged finding ("possible cirrhosis", "acute cholecystitis cannot be excluded") still counts,
    as does a past one ("history of HCC"): the gates ask whether the patient or finding is there.
    """
    for a, b in _sentences(text):
        if a <= start < b:
            mods = span_modifiers(text[a:b], start - a, min(end, b) - a)
            if mods is None:
                return True
            return not any(cat in {"NEGATED_EXISTENCE", "HYPOTHETICAL"} or lit in _REQUEST_RULES for cat, lit in mods)
    return True


def _cue(m: re.Match[str]) -> tuple[int, int]:
    """The words ConText should judge: a group named cue* when the pattern marks one, else the whole match."""
    for name in sorted(n for n in m.re.groupindex if n.startswith("cue")):
        if m.group(name) is not None:
            return m.span(name)
    return m.span()


def _affirmed(pattern: re.Pattern[str] | str, text: str) -> re.Match[str] | None:
    """The first match of `pattern` in `text` that ConText reads as asserted."""
    rx = re.compile(pattern, re.IGNORECASE) if isinstance(pattern, str) else pattern
    return next((m for m in rx.finditer(text) if asserted_at(text, *_cue(m))), None)


# ConText literals that ask about a condition ("evaluate for torsion" is NEGATED_EXISTENCE in medspaCy's rules,
# "assess for PID" HYPOTHETICAL): the question shows the clinical setting although it asserts nothing.
_QUESTION_LITERALS = _REQUEST_RULES | {"evaluate for", "evaluation for", "assess for", "eval for", "to evaluate for",
                                       "question of", "concern for", "suspect", "suspected", "suspicious for"}


def _raised(text: str, start: int, end: int) -> bool:
    """Whether the report raises the condition at `text[start:end]` for this visit: asserted, hedged or asked
    about ("rule out torsion"); not negated ("no evidence of torsion") and not past ("history of torsion")."""
    for a, b in _sentences(text):
        if a <= start < b:
            mods = span_modifiers(text[a:b], start - a, min(end, b) - a) or frozenset()
            if any(cat == "HISTORICAL" for cat, _lit in mods):
                return False
            return not any(cat in {"NEGATED_EXISTENCE", "HYPOTHETICAL"} and lit not in _QUESTION_LITERALS
                           for cat, lit in mods)
    return True


def _current(pattern: re.Pattern[str], text: str) -> bool:
    """A match ConText reads as asserted (hedges count) and not as past history."""
    for m in pattern.finditer(text):
        if not asserted_at(text, *_cue(m)):
            continue
        a, b = next(((a, b) for a, b in _sentences(text) if a <= m.start() < b), (0, len(text)))
        mods = span_modifiers(text[a:b], m.start() - a, min(m.end(), b) - a) or frozenset()
        if not any(cat == "HISTORICAL" for cat, _lit in mods):
            return True
    return False


def _acute_adnexa(procedure: str, text: str) -> bool:
    """The O-RADS exclusion (its governing concepts: average-risk patients without acute symptoms): a procedure
    or report that raises an acute adnexal condition (acute pain, torsion, ectopic pregnancy, PID or abscess,
    rupture) for this visit."""
    return bool(_ADNEXAL_ACUTE.search(procedure)) or any(_raised(text, *m.span()) for m in _ADNEXAL_ACUTE.finditer(text))


def _pregnant(procedure: str, text: str) -> bool:
    """An obstetric procedure, or a report that raises a pregnancy for this visit. O-RADS still grades an adnexal
    lesion in pregnancy (with modified management), but an obstetric exam without one is no O-RADS study."""
    return bool(_OB_PROCEDURE.search(procedure)) or any(_raised(text, *m.span()) for m in _PREGNANCY.finditer(text))


def _gb_wall_thickening(text: str) -> bool:
    """Whether the report describes gallbladder wall thickening (asserted; a hedge counts): see _GB_WALL_CUE."""
    spans = _sentences(text) or ((0, len(text)),)
    for i, (a, b) in enumerate(spans):
        sentence = text[a:b]
        previous = text[spans[i - 1][0] : spans[i - 1][1]] if i else ""
        for m in _GB_WALL_MM.finditer(sentence):
            value, unit = (m.group("cue"), m.group("unit")) if m.group("cue") else (m.group("cue2"), m.group("unit2"))
            if m.group("cue2") and not (_GB_WORD.search(previous) and not _OTHER_ORGAN.search(previous)):
                continue
            mm = float(value) * (10 if unit.lower() == "cm" else 1)
            if mm > _GB_NORMAL_MM and asserted_at(text, a + m.start(), a + m.end()):
                return True
        for m in _GB_WALL_CUE.finditer(sentence):
            if not m.group("own") and not _gb_sentence(sentence, m, previous):
                continue
            if asserted_at(text, a + m.start("cue"), a + m.end("cue")):
                return True
    return False


def _gb_sentence(sentence: str, cue: re.Match[str], previous: str) -> bool:
    """The wall cue in `sentence` is the gallbladder's: the organ named nearest to it is the gallbladder
    ("duodenal wall thickening next to the gallbladder" is the duodenum's), or, the sentence naming no organ
    ("The wall is thickened"), the sentence before is about the gallbladder."""
    organs = [(m, True) for m in _GB_WORD.finditer(sentence)] + [(m, False) for m in _OTHER_ORGAN.finditer(sentence)]
    if not organs:
        return bool(re.search(r"\bwall\b", sentence, re.IGNORECASE) and _GB_WORD.search(previous)
                    and not _OTHER_ORGAN.search(previous))

    def distance(organ: tuple[re.Match[str], bool]) -> int:
        m = organ[0]
        return cue.start() - m.end() if m.end() <= cue.start() else max(0, m.start() - cue.end())

    return min(organs, key=distance)[1]


def _done(pattern: re.Pattern[str], text: str) -> bool:
    """Whether the report says a treatment (or this screening) was done: asserted, and not planned or recommended."""
    for m in pattern.finditer(text):
        if not asserted_at(text, *_cue(m)):
            continue
        lead = text[max(0, m.start() - 80) : m.start()]
        starts = list(_CLAUSE_START.finditer(lead))
        if not _PLANNED.search(lead[starts[-1].end() :] if starts else lead):
            return True
    return False


def _names_system(pattern: str, text: str) -> bool:
    """Whether the report names a system for this study: not only in a legend, nor to say it does not apply.

    "US LI-RADS" names the ultrasound surveillance algorithm, whose categories are not the system's.
    """
    legends = [a for a, _b in legend_ranges(text)]
    for m in re.finditer(pattern, text, re.IGNORECASE):
        if _US_LIRADS.search(text[max(0, m.start() - 16) : m.end() + 16]):
            continue
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
        # LI-RADS applies only to adults at risk of HCC (cirrhosis, chronic hepatitis B, HCC), and not to
        # cirrhosis of vascular or congenital cause, whose benign nodules mimic HCC (ACR LI-RADS v2018).
        if _minor(procedure, text) or _affirmed(_LIRADS_EXCLUDED, text):
            return False
        return any(_affirmed(c, text) for c in cues)
    if system == "Lung-RADS":
        if _CONTRAST_ENHANCED.search(procedure):  # a screening LDCT is never contrast-enhanced
            return False
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
        return _gb_wall_thickening(text) and not _current(_ACUTE_GB, text)
    if system == "NI-RADS":
        return bool(_HEAD_NECK_SITE.search(context) and _TREATED.search(context) and _HN_CANCER.search(context))
    if system == "O-RADS":
        # The report naming O-RADS for this study was read before the gates; a procedure naming it is enough too.
        if _any(cues[:1], procedure):
            return True
        if _acute_adnexa(procedure, text):
            return False
        lesion = bool(_any(cues[1:], procedure) or _affirmed(_ADNEXAL_LESION, text))
        if _pregnant(procedure, text) or modality == "MR":
            return lesion or bool(re.search(r"\bovar|\badnex", procedure, re.IGNORECASE))
        if lesion or re.search(r"\bovar|\badnex|\btransvaginal\b|\bTVUS\b", procedure, re.IGNORECASE):
            return True
        # A female pelvis exam that looks at the ovaries: normal ovaries are O-RADS US 1 (physiologic category).
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
    if stated is not None and not _us_lirads_category(report.text(), stated.system, stated.start, stated.end):
        return stated.system, f"report states {stated.system} {stated.category}"
    return study_rads_system(report)


def study_rads_system(report: RadiologyReport) -> tuple[str | None, str]:
    """The system the study itself calls for (names, procedure, code, modality), when the report states no category."""
    exam = study_exam(report)
    procedure, modality = exam.procedure, exam.modality
    text = report.text()
    for system, (modalities, _proc_cues, text_cues) in _RADS_CUES.items():
        # A system named for another exam ("TI-RADS 4 on the prior US" in a neck CT, "Lung-RADS 4B on
        # screening" in the diagnostic contrast CT that follows) says nothing about this one.
        if modalities is not None and modality and modality not in modalities:
            continue
        if system == "Lung-RADS" and _CONTRAST_ENHANCED.search(procedure):
            continue
        if _names_system(text_cues[0], text):
            return system, f"report names {system}"
    if exam.code in CODE_SYSTEMS:
        system = CODE_SYSTEMS[exam.code]
        return system, f"procedure code {exam.code} is a {system} exam"
    declined = ""  # why an O-RADS or GB-RADS procedure is not that system's study, for the "no RADS" answer
    for system, (modalities, proc_cues, text_cues) in _RADS_CUES.items():
        if modalities is not None and modality and modality not in modalities:
            continue
        if _any(proc_cues, procedure):
            if _gate(system, procedure, text, text_cues, modality):
                return system, f"{system} applies to this procedure"
            declined = declined or _declined(system, procedure, text, text_cues)
    if modality == "MG":
        return "BI-RADS", "mammography"
    if modality in {"US", "MR"} and not procedure and _affirmed(_ADNEXAL_LESION, text) \
            and not _acute_adnexa(procedure, text):
        # A code-only or text-only report (a transvaginal US sent as CPT 76830): the body is all there is.
        return "O-RADS", "ultrasound or MRI describes an adnexal lesion"
    if modality == "US" and _thyroid_nodule(text) and _gate("TI-RADS", procedure, text, (), modality):
        return "TI-RADS", "ultrasound describes a thyroid nodule"
    if modality == "US" and _gate("GB-RADS", procedure, text, (), modality):
        return "GB-RADS", "ultrasound describes gallbladder wall thickening"
    if modality == "CT" and (not procedure or _CHEST_CT.search(procedure)) and not _CONTRAST_ENHANCED.search(procedure) \
            and _done(_LUNG_SCREENING, text):
        return "Lung-RADS", "chest CT for lung cancer screening"
    if modality in {"CT", "MR"} and not re.search(r"\bchest\b|\bhead\b|\bbrain\b|\bneck\b", procedure, re.IGNORECASE):
        if _gate("LI-RADS", procedure, text, _RADS_CUES["LI-RADS"][2], modality) and _LIRADS_LEXICON.search(text):
            return "LI-RADS", "liver observations in a patient at risk of HCC"
    if modality == "MR" and _affirmed(_PROSTATE_ZONES, text) and _gate("PI-RADS", procedure, text, (), modality) \
            and not re.search(r"\bbladder\b|\brect(?:al|um)\b", procedure, re.IGNORECASE):
        return "PI-RADS", "prostate MRI of the peripheral and transition zones"
    if modality in {"CT", "MR", "PT"} and _gate("NI-RADS", procedure, text, (), modality) and _neck_study(procedure, text):
        return "NI-RADS", "surveillance imaging after treatment of a head and neck cancer"
    return None, "no RADS system applies to this study" + (f" ({declined})" if declined else "")


def _declined(system: str, procedure: str, text: str, cues: tuple[str, ...]) -> str:
    """Why an O-RADS or GB-RADS procedure is not graded with its system ("" for the other systems)."""
    if system == "O-RADS":
        if _acute_adnexa(procedure, text):
            return "O-RADS is not applied in the acute setting"
        return "no adnexal lesion for O-RADS"
    if system == "GB-RADS":
        if _gb_wall_thickening(text):
            return "GB-RADS is not applied in acute cholecystitis"
        return "no gallbladder wall thickening for GB-RADS"
    return ""


def _minor(procedure: str, text: str) -> bool:
    """Whether the patient is a child: a pediatric procedure, or the first age the report gives is under 18."""
    if _PEDIATRIC_PROCEDURE.search(procedure):
        return True
    ages = [m for rx in (_AGE, _AGE_SEX) for m in rx.finditer(text)]
    if not ages:
        return False
    first = min(ages, key=lambda m: m.start())
    if first.groupdict().get("young"):
        return True
    years = first.groupdict().get("n") or first.groupdict().get("n2")
    return years is not None and int(years) < 18


def _us_lirads_category(text: str, system: str, start: int, end: int) -> bool:
    """A stated LI-RADS category that is a US LI-RADS one ("US LI-RADS category: US-2"): not an LR category."""
    return system == "LI-RADS" and bool(_US_LIRADS.search(text[max(0, start - 20) : end + 2]))


# A nodule placed against the thyroid ("posterior to the left thyroid lobe", "separate from the thyroid") lies
# outside the gland: a parathyroid adenoma or a lymph node, which TI-RADS does not grade.
_EXTRATHYROIDAL = re.compile(r"\b(?:posterior|inferior|superior|lateral|medial|deep|adjacent|separate|distinct|"
                             r"external|exophytic)\s+(?:to|from)\b|\boutside\b|\bbehind\b|\babutting\b|"
                             r"\bparathyroid\b", re.IGNORECASE)


def _thyroid_nodule(text: str) -> bool:
    """A thyroid nodule the report describes ("Thyroid: 1.5 cm nodule"), not one it negates ("Thyroid: no nodules"),
    nor a nodule beside the gland ("9 mm nodule posterior to the left thyroid lobe")."""
    for m in _THYROID_NODULE.finditer(text):
        if _EXTRATHYROIDAL.search(text, m.start(), m.end()) or not asserted_at(text, *_cue(m)):
            continue
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
