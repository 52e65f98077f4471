"""Target and ConText rules: the words the CheXpert labeler and the critical rules look for.

Data, not code. Target categories are a CheXpert label ("pleural effusion"), "NEG:<labels>"
for phrases that state a label is absent ("lungs are clear", "heart size is normal"; labels
joined by "|"), "UNC:<label>" for phrases that state a label only as uncertain ("heart size is
borderline"), or "CRIT:<term>" for critical findings outside the CheXpert labels.
Synonyms follow the CheXpert labeler's mention lists; patterns are regular expressions
(medspaCy matches them case-insensitively).
"""

from __future__ import annotations

__all__ = ["TARGET_RULES", "CONTEXT_RULES"]

# Degree words between "heart is" and "enlarged" ("the heart is mildly enlarged").
_DEGREE = r"(?:(?:mildly|moderately|markedly|severely|slightly|minimally|significantly|massively|globally)\s+)?"

_DEV = (
    r"(?:endotracheal|tracheostomy|enteric|feeding|nasogastric|orogastric|chest|dobhoff|ng|og|et|ett)\s+tubes?"
    r"|\bett\b|central\s+(?:venous\s+)?(?:line|catheter)|\bcvc\b|\bpicc\b|swan[\s\-]?ganz|pacemaker|pacer|"
    r"\baicd\b|\bicd\b|defibrillator|(?:(?:pacemaker|pacer)\s+)?\bleads?\b|port[\s\-]?a[\s\-]?cath|\bport\b|sternotomy\s+wires?|"
    r"introducer(?:\s+sheath)?|\bsheath\b|catheters?|\bdrains?\b|\bstents?\b|\bclips\b|\bvalve\s+replacement|"
    r"\b(?:ij|subclavian|femoral)\s+(?:line|catheter|cvc)|lines\s+and\s+tubes|tubes\s+and\s+lines|lines?\s*/\s*tubes?|tubes?\s*/\s*lines?|\bimpella\b|\biabp\b|"
    r"balloon\s+pump|\bvad\b|\becmo\b\s+cannula|cannula|\bsupport\s+(?:lines|devices|tubes)\b|\bmonitoring"
    r"\s+leads\b"
)

# (literal, category, regex or spaCy token pattern, or None for the literal itself)
TARGET_RULES: list[tuple[str, str, str | list[dict[str, str]] | None]] = [
    ("atelectasis", "atelectasis", r"\batelecta(?:sis|ses|tic)\b|\b(?:lung|lobar|lobe|segmental)\s+collapse\b"
                                   r"|\bcollapse\s+of\s+the\s+(?:\w+\s+){0,3}(?:lung|lobe)\b|\bcollapsed\s+(?:\w+\s+)?(?:lung|lobe)\b"),
    ("cardiomegaly", "cardiomegaly", r"\bcardiomegaly\b|\benlarged\s+(?:heart|cardiac\s+silhouette)\b|\bcardiac\s+enlargement\b"
                                     r"|\benlargement\s+of\s+the\s+(?:cardiac\s+silhouette|heart)\b"
                                     # templates: "Heart: Mildly enlarged.", "Cardiac silhouette: enlarged"
                                     r"|\b(?:heart|heart\s+size|cardiac\s+(?:silhouette|size))\s*:\s*" + _DEGREE + r"enlarged\b"
                                     r"|\b(?:heart|heart\s+size|cardiac\s+(?:silhouette|size))\s+(?:is\s+|appears\s+|remains\s+)?"
                                     + _DEGREE + r"enlarged\b"),
    # "Heart size is borderline", "borderline heart size": at the border of normal, so uncertain
    # ("borderline cardiomegaly" is the cardiomegaly target hedged by the "borderline" rule below).
    ("borderline heart size", "UNC:cardiomegaly",
     r"\b(?:heart|heart\s+size|cardiac\s+(?:silhouette|size))\s+(?:is\s+|appears\s+|remains\s+)?"
     r"borderline(?:\s+(?:enlarged|large|in\s+size))?\b|\bborderline\s+(?:heart|cardiac)\s+size\b"),
    ("consolidation", "consolidation", r"\bconsolidat(?:ion|ions|ive)\b"),
    ("edema", "edema", r"\b(?:(?:pulmonary|interstitial|alveolar|airspace)\s+)?o?edema\b|\bvascular\s+congestion\b|\bchf\b"
                     r"|\bpulmonary\s+congestion\b|\b(?:congestive\s+)?heart\s+failure\b"),
    ("enlarged cardiomediastinum", "enlarged cardiomediastinum",
     r"\benlarged\s+cardiomediastin\w*|\bwidened\s+mediastinum\b|\bmediastinal\s+widening\b"
     r"|\bmediastinum\s+(?:is\s+|appears\s+|remains\s+)?" + _DEGREE + r"(?:widened|enlarged)\b"
     r"|\bcardiomediastinal\s+silhouette\s+is\s+enlarged\b"
     # templates: "Mediastinum: Widened."
     r"|\bmediastinum\s*:\s*" + _DEGREE + r"(?:widened|enlarged)\b"),
    ("fracture", "fracture", r"\bfractur(?:e|es|ed)\b"),
    ("lung lesion", "lung lesion", r"\b(?<!mass\s)mass(?:es)?\b(?!\s+effect)|\bnodul(?:e|es|ar\s+opacit(?:y|ies))\b"
                                   r"|\bneoplasm\b|\btumou?r\b|\bcavitary\s+lesion\b|\blung\s+lesion\b"),
    ("lung opacity", "lung opacity", r"\bopaci(?:ty|ties|fication|fications)\b|\binfiltrates?\b|\bairspace\s+disease\b"
                                     r"|\bhaziness\b|\bground[\s\-]glass\b|\bdensit(?:y|ies)\s+in\s+the\s+(?:\w+\s+)?(?:lung|lobe)"),
    ("pleural effusion", "pleural effusion", r"\b(?:pleural\s+)?effusions?\b(?<!pericardial effusion)(?<!pericardial effusions)"
                                             r"|\bhydrothorax\b|\bhemothorax\b|\bfluid\s+in\s+the\s+pleural|\bpleural\s+fluid\b"),
    ("pleural other", "pleural other", r"\bpleural\s+(?:thickening|plaques?|scar(?:ring|s)?|calcification)\b|\bfibrothorax\b"
                                       r"|\bpleuro-?(?:parenchymal|pericardial)\s+scar(?:ring|s)?\b"),
    ("pneumonia", "pneumonia", r"\bpneumoni(?:a|as|tis)\b|\binfection\b|\binfectious\s+process\b|\bbronchopneumonia\b"),
    ("pneumothorax", "pneumothorax", r"\b(?:hydro)?pneumothora(?:x|ces)\b|\bptx\b"),
    ("support devices", "support devices", _DEV),
    # Stated absences that ConText cannot see as negation.
    # "Lungs are hypoinflated but clear", "the lungs are low in volume but otherwise clear": a short description
    # of the lungs (no finding word, which must stay a target of its own) before "and/but (otherwise) clear".
    ("lungs clear", "NEG:lung opacity", r"\b(?:both\s+|the\s+)?(?:right\s+|left\s+)?lungs?\s+(?:(?:are|is|remain|appear)\s+"
                                        r"(?:(?!(?:opacit|nodul|mass|consolid|atelecta|effusion|o?edema|infiltrat|scar|pneumo"
                                        r"|lesion|collapse|fibros)\w*)[\w\-]+\s+){1,4}?(?:and|but)\s+(?:otherwise\s+)?"
                                        r"|(?:are\s+|is\s+|remain\s+)?(?:otherwise\s+)?)clear\b"
                                        r"|\bclear\s+lungs\b|\blungs?\s*:\s*clear\b"),
    ("normal heart", "NEG:cardiomegaly", r"\bnormal\s+(?:heart\s+size|cardiac\s+size|heart)\b"
                                         r"|\bheart\s+size\s+(?:is\s+)?(?:upper\s+)?(?:normal|within\s+normal\s+limits|unremarkable)\b"
                                         r"|\bheart\s+(?:size\s+)?is\s+not\s+enlarged\b"
                                         # "at the upper limits of normal", "top normal": normal
                                         # (dev-031's "upper normal")
                                         r"|\bheart\s+size\s+(?:is\s+)?(?:at\s+the\s+)?upper\s+limits?\s+of\s+normal\b"
                                         r"|\b(?:heart|cardiac\s+(?:silhouette|size))\s+(?:size\s+)?(?:is|appears|remains)\s+"
                                         r"(?:top|upper)[\s\-]normal\b"
                                         r"|\b(?:top|upper)[\s\-]normal\s+heart\s+size\b"
                                         # templates: "Heart: Normal size.", "The heart is normal in size",
                                         # "Cardiac silhouette is normal"
                                         r"|\b(?:heart|cardiac\s+(?:silhouette|size))\s*(?::\s*|\s+(?:is"
                                         r"|appears)\s+)(?:normal|unremarkable"
                                         r"|within\s+normal\s+limits)(?:\s+in\s+size|\s+size)?\b"),
    ("normal cardiomediastinum", "NEG:cardiomegaly|enlarged cardiomediastinum",
     r"\bcardiomediastinal\s+(?:silhouette|contours?)\s*(?::\s*|\s+(?:is\s+|are\s+)?)(?:normal"
     r"|within\s+normal\s+limits|unremarkable)\b"  # not "stable": a stable silhouette may be stably enlarged
     r"|\bnormal\s+cardiomediastinal\s+(?:silhouette|contours?)\b"
     r"|\bheart\s+and\s+mediastinum\s+(?:are\s+)?(?:normal|unremarkable|within\s+normal\s+limits)\b"),
    ("normal mediastinum", "NEG:enlarged cardiomediastinum",
     r"\bmediastinal\s+(?:and\s+hilar\s+)?contours?\s+(?:is\s+|are\s+)?(?:normal|unremarkable|within\s+normal\s+limits)\b"
     r"|\bmediastinum\s*(?::\s*|\s+(?:is\s+)?)(?:normal|unremarkable)\b"),
    # Critical results outside the CheXpert labels (pneumothorax comes from the label above).
    ("intracranial hemorrhage", "CRIT:intracranial hemorrhage",
     r"\b(?:intracranial|intraparenchymal|intracerebral|subarachnoid|subdural|epidural|extra[\s\-]?axial|intraventricular)\s+"
     r"(?:\w+\s+){0,2}?(?:hemorrhage|haemorrhage|hematoma|haematoma|bleed)s?\b|\bhemorrhagic\s+(?:stroke|contusion|transformation)\b"
     r"|\b(?:subarachnoid|subdural|intraventricular|intraparenchymal|epidural|extra[\s\-]?axial)\s+blood\b"
     r"(?!\s+patch)"
     r"|\b(?-i:ICH|SAH|SDH|EDH)\b|\b(?:intracranial\s+)?hemorrhage\s+in\s+the\s+(?:\w+\s+){0,2}(?:lobe|ganglia|thalamus|cerebellum|pons)"),
    ("pulmonary embolism", "CRIT:pulmonary embolism",
     r"\bpulmonary\s+(?:arterial\s+)?embol(?:ism|us|i)\b|\b(?:saddle\s+)?embol(?:us|i)\s+in\s+the\s+(?:\w+"
     r"\s+){0,4}pulmonary\s+arter"
     # "Filling defects in the left lower lobe segmental pulmonary arteries", "acute thromboembolism of the
     # right interlobar pulmonary artery" (a venous thromboembolism elsewhere is not a PE).
     r"|\bfilling\s+defects?\s+(?:\w+\s+){0,8}?pulmonary\s+arter(?:y|ies)\b|\bpulmonary\s+thromboembol\w*"
     r"|\bthromboembol(?:ism|i|us)\s+(?:\w+\s+){0,6}?pulmonary\s+arter(?:y|ies)\b"),
    # A token pattern is case-sensitive: "PE" only in capitals (critical.py drops "PE protocol").
    ("PE", "CRIT:pulmonary embolism", [{"TEXT": "PE"}]),
    ("free air", "CRIT:free air", r"\bfree\s+(?:intraperitoneal\s+|intra-abdominal\s+|abdominal\s+)?(?:air|gas)\b"
                                  r"|\bpneumoperitoneum\b"
                                  r"|\bextraluminal\s+(?:free\s+)?(?:air|gas)\b"),
    # Acute aortic syndrome (dissection, intramural hematoma, rupture) is labelled "aortic dissection" (spec §12).
    ("aortic dissection", "CRIT:aortic dissection",
     r"\baortic\s+dissection\b|\bdissection\s+of\s+the\s+(?:\w+\s+){0,2}aorta\b|\b(?:stanford|debakey)\s+type\s+\w+\s+(?:\(\w+\s+\w+\)\s+)?"
     r"(?:aortic\s+)?dissection\b|\btype\s+[ab]\s+dissection\b|\b(?:intimal|dissection)\s+flap\b|\b(?:aortic\s+)?intramural\s+ha?ematoma\b|\bacute\s+aortic\s+syndrome\b"
     r"|\bruptur\w*\s+(?:\w+\s+){0,3}aortic\s+aneurysm\b|\baortic\s+aneurysm\s+(?:\w+\s+){0,2}ruptur\w*"),
    # The spec's wider critical list (§12, ACR actionable category 1) beyond the dev vocabulary.
    ("spinal cord compression", "CRIT:spinal cord compression",
     r"\b(?:spinal\s+)?cord\s+compression\b|\bcompression\s+(?:up)?on\s+the\s+(?:\w+\s+)?(?:spinal\s+)?cord\b"
     r"|\bcompression\s+of\s+the\s+(?:\w+\s+)?(?:spinal\s+)?cord\b|\bcompress(?:es|ing)\s+the\s+(?:\w+\s+)?(?:spinal\s+)?cord\b"
     r"|\bcauda\s+equina\s+compression\b"),
    ("ectopic pregnancy", "CRIT:ectopic pregnancy",
     r"\bectopic\s+(?:pregnancy|pregnancies|gestation)\b|\b(?:tubal|interstitial|cornual)\s+(?:ectopic\s+)?(?:pregnancy|gestation)\b"),
    # Torsion of the testis itself, not of a testicular appendage (appendix testis), which is not an emergency.
    ("testicular torsion", "CRIT:testicular torsion",
     r"\b(?:testicular|spermatic\s+cord)\s+torsion\b|\btorsion\s+of\s+the\s+(?:(?:left|right)\s+)?(?:testis|testicle|spermatic\s+cord)\b"
     r"|\btorsed\s+(?:(?:left|right)\s+)?(?:testis|testicle)\b"
     r"|\b(?:testis|testicle|testes)\b[^.;]{0,80}?,\s*(?:\w+\s+){0,3}?(?:consistent|compatible|in\s+keeping|concerning"
     r"|suspicious|worrisome|diagnostic)\s+(?:with|for|of)\s+(?:\w+\s+){0,2}?torsion\b"),
    ("ovarian torsion", "CRIT:ovarian torsion",
     r"\b(?:ovarian|adnexal)\s+torsion\b|\btorsion\s+of\s+the\s+(?:(?:left|right)\s+)?(?:ovary|adnexa|adnexum)\b"
     r"|\btorsed\s+(?:(?:left|right)\s+)?(?:ovary|adnexa)\b"
     # "Right ovary enlarged without flow, consistent with torsion": the torsion of the ovary the sentence is about
     # (the whole phrase is the target; words inside a target are no modifiers of it, a "no" before it still is)
     r"|\b(?:ovary|ovaries|adnexa|adnexal)\b[^.;]{0,80}?,\s*(?:\w+\s+){0,3}?(?:consistent|compatible|in\s+keeping|concerning"
     r"|suspicious|worrisome|diagnostic)\s+(?:with|for|of)\s+(?:\w+\s+){0,2}?torsion\b"),
    ("portal venous gas", "CRIT:portal venous gas",
     r"\bportal\s+(?:venous\s+|vein\s+)?gas\b|\bportomesenteric\s+(?:venous\s+)?gas\b|\bgas\s+(?:with)?in\s+the\s+portal\s+ve(?:in|nous)"),
    # Tension physiology: a modifier of a pneumothorax, read with its own negation and hedges
    # ("without tension physiology", "tension cannot be excluded"); critical.py decides.
    ("tension", "CRIT:tension", r"\btension(?:\s+(?:physiology|component))?\b"),
    ("malpositioned support device", "CRIT:malpositioned support device",
     r"\bmal[\s\-]?position(?:ed|ing)?\b|\bmisplace(?:d|ment)\b"
     r"|\b(?:endotracheal\s+tube|ett|et\s+tube)\b[^.;]{0,60}?\b(?:right|left)\s+main\s*-?\s*stem\b"
     r"|\b(?:endotracheal\s+tube|ett|et\s+tube)\b[^.;]{0,60}?\besophag"
     r"|\b(?:enteric|feeding|nasogastric|orogastric|ng|og|dobhoff)\s+tube\b[^.;]{0,60}?\b(?:airway|bronch\w*|trachea|pleural\s+space)\b"
     # an ETT at or below the carina, in the bronchus intermedius or still in the pharynx
     r"|\b(?:endotracheal\s+tube|ett|et\s+tube)\b[^.;]{0,60}?\b(?:bronchus\s+intermedius|(?:at|below"
     r"|beyond)\s+(?:the\s+)?"
     r"(?:level\s+of\s+the\s+)?carina|(?:hypo|oro)?pharynx|above\s+the\s+(?:vocal\s+cords|glottis))\b"
     # an enteric tube coiled in or ending in the esophagus or pharynx
     r"|\b(?:enteric|feeding|nasogastric|orogastric|ng|og|dobhoff)\s+tube\b[^.;]{0,60}?\b(?:coiled|curled|"
     r"looped|folded)\s+"
     r"(?:\w+\s+){0,3}?(?:in|within)\s+the\s+(?:\w+\s+)?(?:esophagus|(?:hypo|oro)?pharynx|mouth)\b"
     r"|\b(?:enteric|feeding|nasogastric|orogastric|ng|og|dobhoff)\s+tube\b[^.;]{0,40}?\b(?:tip|terminat"
     r"\w*|ends?)\s+"
     r"(?:\w+\s+){0,2}?(?:in|within|at|over)\s+the\s+(?:(?:distal|mid|proximal|upper|lower|cervical"
     r"|thoracic)\s+)?esophagus\b"
     # a PICC or subclavian/arm line whose tip has gone up the internal jugular vein
     r"|\b(?:picc|peripherally\s+inserted\s+central\s+catheter|(?:subclavian|basilic|cephalic"
     r"|arm)\s+(?:central\s+)?"
     r"(?:venous\s+)?(?:line|catheter|cvc)|port\s+catheter)\b[^.;]{0,60}?\b(?:into|in|within|to|over|overl"
     r"\w+)\s+(?:the\s+)?"
     r"(?:(?:right|left|contralateral|ipsilateral)\s+)?(?:internal\s+jugular|ij)\b"
     r"|\b(?:tip|catheter|line|picc)\b[^.;]{0,40}?\b(?:directed|cours\w+|extend\w+|ascend\w+|flipped"
     r"|looped|coiled)\s+"
     r"(?:\w+\s+){0,2}?(?:cephalad|superiorly|into\s+the\s+neck)\b"
     r"|\b(?:tube|catheter|line)\b[^.;]{0,60}?\bshould\s+be\s+(?:withdrawn|retracted|advanced|repositioned)"
     r"|\brecommend\s+(?:withdraw|retract|advanc|reposition)\w*\b"),
]

# (literal, category, direction, regex or token pattern or None, max scope in tokens or None)
CONTEXT_RULES: list[tuple[str, str, str, str | list[dict[str, str]] | None, int | None]] = [
    ("cannot be excluded", "POSSIBLE_EXISTENCE", "BACKWARD",
     r"\b(?:(?:(?:can\s*not|can't|cannot|could\s+not|not)\s+be|(?:is|are)\s+not|isn't|aren't)\s+|not\s+)"
     r"(?:entirely\s+|completely\s+)?(?:excluded|ruled\s+out)\b", None),
    # "Cardiomegaly, likely." / "pneumonia, probable": a hedge closing its phrase.
    ("likely.", "POSSIBLE_EXISTENCE", "BACKWARD", r",\s*(?:most\s+)?(?:likely|probable|possible)(?=\s*[.;)"
                                                  r"]|\s*$)", 3),
    ("may represent", "POSSIBLE_EXISTENCE", "FORWARD",
     r"\b(?:may|might|could)\s+(?:represent|reflect|be\s+due\s+to|indicate|be)\b", None),
    # (not the slash of "lines/tubes", one heading for the devices)
    ("versus", "POSSIBLE_EXISTENCE", "BIDIRECTIONAL",
     r"\b(?:versus|vs\.?)(?=\s)|(?<=\w)(?<!\bline)(?<!\blines)(?<!\btube)(?<!\btubes)/(?=\w)(?!(?:lines?|tubes?)\b)", 4),
    ("differential", "POSSIBLE_EXISTENCE", "FORWARD", r"\bdifferential\s+(?:diagnosis\s+)?(?:includes?|considerations?)\b", None),
    ("likely", "POSSIBLE_EXISTENCE", "FORWARD", r"\b(?:likely|probable|probably|questionable|equivocal|suggest(?:s|ing)?)\b", None),
    # "Aspiration pneumonia is a consideration", "considerations include atelectasis", "findings favor
    # atelectasis", "atelectasis is favored": still in the differential, so uncertain (the CheXpert labeler's
    # "consider"/"favor" rules). "Pneumonia is considered unlikely" keeps the longer "is unlikely" rule below.
    ("is a consideration", "POSSIBLE_EXISTENCE", "BACKWARD",
     r"\b(?:is|are|remains?)\s+(?:also\s+|still\s+)?(?:an?\s+)?(?:(?:diagnostic|differential|possible)\s+)?"
     r"(?:considerations?|considered|favou?red|in\s+the\s+differential(?:\s+diagnosis)?)\b", 3),
    ("considerations include", "POSSIBLE_EXISTENCE", "FORWARD",
     r"\b(?:considerations?\s+(?:include|includes|would\s+include)|consider(?:ing)?|favou?r(?:s|ed|ing)?)\b", None),
    # "Pneumothorax is not well evaluated on this supine film": the study cannot tell, so uncertain (the
    # CheXpert labeler's "poorly/incompletely evaluated", "not well visualized"); a LIMITED mention is no
    # finding for the critical rules, which only take a stated or suspected one.
    ("not well evaluated", "LIMITED", "BACKWARD",
     r"\b(?:is|are|was|were|remains?)\s+(?:not\s+(?:well|adequately|reliably|fully)|poorly|incompletely|suboptimally)\s+"
     r"(?:evaluated|assessed|visuali[sz]ed|seen|excluded)\b", 5),
    # "Borderline cardiomegaly": at the border of normal, neither stated present nor absent.
    ("borderline", "POSSIBLE_EXISTENCE", "FORWARD", r"\bborderline\b", 3),
    # "Suspected pulmonary embolism", "concern for free air", "? pneumothorax", "PE is suspected".
    ("suspected", "POSSIBLE_EXISTENCE", "FORWARD",
     r"\b(?:suspected|suspicion\s+(?:of|for)|presumed|presumptive|possibly|concern\s+for|question\s+of)\b", None),
    ("is suspected", "POSSIBLE_EXISTENCE", "BACKWARD", r"\b(?:is|are)\s+(?:suspected|questioned|possible)\b", None),
    ("question mark", "POSSIBLE_EXISTENCE", "BIDIRECTIONAL", r"\?", 5),
    # "Pneumonia is unlikely", "pneumonia unlikely.", "infection is felt to be unlikely": a hedged
    # negative is negative (the CheXpert labeler's "no definite X" is negative; NegEx and medspaCy
    # list "unlikely" as a negation). Only the phrase just before it: medspaCy's own "unlikely" rule
    # reaches back to the start of the sentence ("opacity, likely atelectasis; pneumonia is unlikely"
    # must keep the atelectasis), and the longer match below replaces it.
    ("is unlikely", "NEGATED_EXISTENCE", "BACKWARD",
     r"\b(?:(?:is|are|was|were|seems?|appears?)\s+)?(?:(?:considered|felt|thought|believed)\s+(?:to\s+be\s+)?)?"
     r"(?:(?:very|highly)\s+)?(?:unlikely|not\s+likely|doubtful)"
     r"(?:\s*[.;,:)]|\s+(?:given|in\s+view|considering|clinically|at\s+this\s+time|based))", 2),
    # "Pneumonia is likely.": the "likely" above only looks forward ("likely atelectasis").
    ("is likely", "POSSIBLE_EXISTENCE", "BACKWARD", r"\b(?:is|are)\s+(?:most\s+)?(?:likely|probable)(?:\s*[.;,:)]|\s*$)", 2),
    # "unlikely to represent pneumonia": the phrase right after it.
    ("unlikely to represent", "NEGATED_EXISTENCE", "FORWARD",
     r"\b(?:unlikely|not\s+likely)\s+to\s+(?:represent|reflect|be|indicate|signify)\b(?:\s+(?:an?|the)\b)?", 3),
    # "Pneumonia is less likely": still in the differential, so uncertain (the CheXpert labeler's
    # "less likely" rule); "less likely pneumonia" is covered by "likely" above.
    ("less likely", "POSSIBLE_EXISTENCE", "BACKWARD",
     r"\b(?:(?:is|are|seems?|appears?)\s+)?(?:(?:considered|felt|thought)\s+(?:to\s+be\s+)?)?(?:much\s+)?less\s+likely"
     r"(?:\s*[.;,:)]|\s*$)", 2),
    # "atelectasis or consolidation": either may be present (a negated list stays negated).
    ("or", "POSSIBLE_EXISTENCE", "BIDIRECTIONAL", r"\bor\b(?!\s+(?:without|more|greater|less|fewer)\b)", 2),
    # "cannot exclude pneumonia" (medspaCy's "was not" would otherwise negate it); "not inconsistent with".
    ("cannot exclude", "POSSIBLE_EXISTENCE", "FORWARD",
     r"\b(?:can\s*not|can't|cannot|could\s+not|couldn't|does\s+not|doesn't|unable\s+to)\s+(?:entirely\s+|completely\s+|definitely\s+)?"
     r"(?:exclude|rule\s+out)\b|\bnot\s+inconsistent\s+with\b", None),
    # "Pleural effusion is not seen", "pulmonary embolism is not identified", "dissection is excluded".
    ("is not seen", "NEGATED_EXISTENCE", "BACKWARD",
     r"\b(?:is|are|was|were)\s+(?:not|no\s+longer)\s+(?:seen|identified|visuali[sz]ed|demonstrated|appreciated|evident|present|detected)\b"
     r"|\b(?:is|are|was|were|has\s+been|have\s+been)\s+(?:(?:confidently|definitely|reliably)\s+)?excluded\b|\b(?:is|are)\s+absent\b", None),
    # "Skin fold mimicking a pneumothorax", "apparent apical pneumothorax likely represents a skin fold": a look-alike,
    # named only to be set aside (a pseudo-pneumothorax), so the finding is absent.
    ("mimicking", "NEGATED_EXISTENCE", "FORWARD",
     r"\b(?:mimick?(?:s|ing|ed)?|simulat(?:es?|ing)|(?:can|may|could)\s+(?:mimic|simulate)|mistaken\s+for"
     r"|not\s+to\s+be\s+(?:confused|mistaken)\s+(?:with|for)|pseudo-?)\b", 5),
    ("represents a skin fold", "NEGATED_EXISTENCE", "BACKWARD",
     r"\b(?:(?:most\s+)?(?:likely|probably)\s+)?(?:represents?|reflects?|(?:is|are)\s+(?:due\s+to|related\s+to|caused\s+by"
     r"|from|an?))\s+(?:an?\s+|the\s+)?(?:overlying\s+|external\s+)?(?:skin\s*folds?|artifacts?|artefacts?|mach\s+bands?"
     r"|(?:the\s+)?(?:medial\s+)?(?:scapular?\s+(?:border|edge|margin)|border\s+of\s+the\s+scapula)|clothing|hair\s*braids?"
     r"|(?:overlying\s+)?(?:blanket|sheet|tubing|gown)s?)\b", 4),  # (only the finding just before it)
    # "Left basilar opacity: no change.": still there, not new (the longer phrase replaces medspaCy's ": no").
    ("field: no change", "NOT_NEW", "BACKWARD",
     r":\s*(?:no|without)\s+(?:(?:significant|appreciable|substantial|interval|definite)\s+)*change\b", 4),
    # "PE: negative.", "Pneumothorax: absent.": a template field that denies the finding named as its label.
    ("field: negative", "NEGATED_EXISTENCE", "BACKWARD",
     r":\s*(?:negative|absent|none(?:\s+(?:seen|identified|present))?|no|not\s+(?:seen|identified|present|detected"
     r"|demonstrated))\s*(?=[.;,]|$)", 4),
    # "Negative CTA for aortic dissection".
    ("negative study for", "NEGATED_EXISTENCE", "FORWARD", r"\bnegative\s+(?:\w+\s+){1,2}for\b", None),
    # "Evaluation for pulmonary embolism is limited": the indication, not a finding.
    ("evaluation for", "HYPOTHETICAL", "FORWARD", r"\b(?:evaluation|evaluate|assessment|assess|eval|search)\s+for\b", 4),
    # "No change in the small left effusion": still present, and not new (medspaCy's "no" would negate it).
    ("no change in", "NOT_NEW", "FORWARD",
     r"\b(?:no|without)\s+(?:significant\s+|appreciable\s+|substantial\s+|interval\s+|definite\s+)*(?:change|increase|decrease|progression)"
     r"\s+(?:in|of)\b", None),
    ("no evidence of", "NEGATED_EXISTENCE", "FORWARD", r"\b(?:no|without)\s+(?:\w+\s+){0,2}evidence\s+(?:of|for)\b", None),
    # "Status post repair of type A aortic dissection", "s/p evacuation of subdural hematoma": treated, not new.
    # Only with the treatment named: "s/p fall with acute subdural hematoma" stays a current finding.
    ("status post repair of", "HISTORICAL", "FORWARD",
     r"\b(?:status\s+post|s/p|after|following)\s+(?:\w+\s+){0,2}?(?:repair|evacuation|embolization|coiling|clipping|"
     r"decompression|drainage|stenting|thrombectomy)\s+of\b", 5),
    # "Interval decompression of the tension pneumothorax", "pneumothorax has been decompressed": treated,
    # not new. Kept to the phrase itself: "decompressed bowel with free air" must still find the free air.
    ("decompression of", "NOT_NEW", "FORWARD", r"\b(?:interval\s+)?decompression\s+of\b", 5),
    ("decompressed", "NOT_NEW", "BACKWARD", r"\b(?:(?:has|have|was|were)\s+(?:been\s+)?)?decompressed\b", 4),
    ("free of", "NEGATED_EXISTENCE", "FORWARD", [{"LOWER": "free"}, {"LOWER": "of"}], None),
    ("removal of", "NEGATED_EXISTENCE", "FORWARD", r"\b(?:interval\s+)?removal\s+of\b", 6),
    ("removed", "NEGATED_EXISTENCE", "BACKWARD", r"\b(?:has\s+been\s+|have\s+been\s+|was\s+|were\s+)?removed\b", None),
    ("has resolved", "RESOLVED", "BACKWARD", r"\b(?:has|have)\s+(?:now\s+)?resolved\b|\bresolved\b|\bno\s+longer\s+(?:seen|visible|present)\b", None),
    # (The backward rules added in round 8 reach a few words back only: "Right pneumothorax persists and the left
    # effusion has cleared" keeps the pneumothorax.)
    # "Left basilar opacity has cleared", "interval clearing of the edema": gone (the CheXpert labeler's "cleared"
    # and "clearing" rules); "pneumothorax resolved after chest tube removal": the longer phrase replaces medspaCy's
    # one-word "resolved", which looks forward only and would leave the pneumothorax standing.
    ("has cleared", "RESOLVED", "BACKWARD",
     r"\b(?:(?:has|have)\s+(?:now\s+)?(?:completely\s+)?)?cleared\b|\bresolved\s+(?:after|following|since|with|on|post)\b", 5),
    ("clearing of", "RESOLVED", "FORWARD", r"\b(?:interval\s+|complete\s+)?clearing\s+of\b", None),
    # "Partial resolution of the effusion", "the pneumothorax has partially resolved": smaller, still there.
    # The longer phrase replaces "resolution of"/"resolved" (medspaCy keeps the longer of two overlapping modifiers).
    ("partial resolution of", "NOT_NEW", "FORWARD", r"\b(?:interval\s+)?(?:partial|incomplete)\s+resolution\s+of\b", None),
    ("partially resolved", "NOT_NEW", "BACKWARD",
     r"\b(?:(?:has|have)\s+)?(?:partially|incompletely|not\s+(?:completely|fully|entirely))\s+resolved\b", 5),
    # "... after chest tube removal", "status post PICC removal": the device named right before is gone.
    ("removal", "NEGATED_EXISTENCE", "BACKWARD", r"\bremoval\b(?!\s+of\b)", 3),
    # "Pneumothorax resolved.": medspaCy's own one-token "resolved" rule looks forward only and would
    # win over the bare "resolved" above (same length); the word closing its phrase is longer.
    ("resolved.", "RESOLVED", "BACKWARD", r"\bresolved\s*(?:[.;,)]|$)", None),
    ("resolution of", "RESOLVED", "FORWARD", r"\b(?:resolution|resolved|interval\s+resolution)\s+of\b", None),
    # "Pneumoperitoneum, likely related to recent laparotomy": expected after the operation, not new.
    ("related to surgery", "NOT_NEW", "BACKWARD",
     r"\b(?:related\s+to|due\s+to|from|after|following|secondary\s+to|in\s+keeping\s+with)\s+(?:the\s+|a"
     r"\s+)?(?:recent\s+)?"
     r"(?:surgery|laparotomy|laparoscopy|operation|c-?section|cesarean\s+section|peritoneal\s+dialysis)"
     r"\b", None),
    # "Pneumoperitoneum out of proportion to postoperative expectation" is not the expected kind: the
    # longer phrase prunes the "postoperative" below (ACUTE marks nothing).
    ("out of proportion", "ACUTE", "BACKWARD",
     r"\b(?:out\s+of\s+proportion\s+to|more\s+than\s+expected\s+for"
     r"|larger\s+than\s+expected\s+for)\s+(?:the\s+)?(?:\w+\s+)?"
     r"(?:post[\s\-]?operative|post[\s\-]?surgical|postsurgical|post[\s\-]?procedural)(?:\s+\w+)?", 2),
    # "Acute-on-chronic subdural hematoma" is acute: the longer phrase prunes the "chronic" below
    # (medspaCy drops a modifier inside a longer one); ACUTE itself marks nothing.
    ("acute on chronic", "ACUTE", "FORWARD", r"\bacute[\s\-]+on[\s\-]+chronic\b", 4),
    # "Aortic dissection has been repaired", "the hematoma was evacuated": treated, not new.
    ("has been repaired", "HISTORICAL", "BACKWARD",
     r"\b(?:has|have|was|were)\s+(?:been\s+)?(?:surgically\s+)?(?:repaired|evacuated|coiled|clipped"
     r"|drained|stented)\b", None),
    ("unchanged", "NOT_NEW", "BIDIRECTIONAL",
     r"\b(?:unchanged|stable|similar|chronic|old|healed|healing|remote|persistent|residual|known|again\s+(?:seen|noted)"
     r"|redemonstrat(?:ed|es|ion)|re-demonstrat(?:ed|es|ion)|post[\s\-]?(?:laparotomy|laparoscopy|procedural)"
     r"|decreas(?:e|ed|es|ing)|improv(?:ed|ing|ement)|smaller|resolving|expected|post[\s\-]?operative|postsurgical"
     r"|post[\s\-]?surgical)\b", None),
]
# "Right ovary without flow, consistent with ovarian torsion": the clause after the comma states what the
# finding means, so a negation before it ("without flow") does not reach the diagnosis. Only after a comma:
# "no findings consistent with torsion" stays negated.
CONTEXT_RULES += [
    (", consistent with", "NEGATED_EXISTENCE", "TERMINATE",
     # The comma alone is the modifier (a lookahead reads the phrase), so a hedge there ("concerning for")
     # keeps its own rule: medspaCy prunes a modifier that lies inside a longer one.
     r",(?=\s*(?:(?:which|these|the)\s+(?:findings\s+)?(?:is|are)\s+)?(?:most\s+|highly\s+)?(?:(?:consistent|compatible)\s+with"
     r"|in\s+keeping\s+with|suggestive\s+of|concerning\s+for|diagnostic\s+of|worrisome\s+for|suspicious\s+for"
     r"|indicative\s+of)\b)", None),
]
# "No focal consolidation other than mild left basilar atelectasis", "no acute abnormality except for a small
# subdural hematoma": the exception is stated, so the negation stops there.
CONTEXT_RULES += [
    ("other than", "NEGATED_EXISTENCE", "TERMINATE",
     r"\b(?:other\s+than|except(?:\s+for)?|with\s+the\s+exception\s+of|apart\s+from|aside\s+from|save\s+for)\b", None),
]
# Where a new clause with its own subject starts ("... persists and the left effusion has resolved"): the
# backward rules stop there (clinical_nlp passes terminated_by); forward negation is not cut ("no pneumothorax
# and effusion"). PSEUDO: it modifies nothing itself.
CONTEXT_RULES += [
    ("clause break", "CLAUSE_BREAK", "PSEUDO",
     r"\b(?:and|while|whereas)\b(?=\s+(?:the|there|this|these)\b)", None),
]
# A semicolon ends every modifier's scope: "Left basilar opacity; pneumonia cannot be excluded" hedges
# the pneumonia only, "small effusion; no pneumothorax" negates the pneumothorax only.
CONTEXT_RULES += [
    (";", category, "TERMINATE", [{"TEXT": ";"}], None)
    for category in ("NEGATED_EXISTENCE", "POSSIBLE_EXISTENCE", "HYPOTHETICAL", "HISTORICAL", "NOT_NEW", "RESOLVED",
                     "LIMITED")
]
