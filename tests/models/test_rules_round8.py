"""Rules engine, round 8: stated RADS categories in report shapes none of the earlier rounds wrote.

Unicode hyphens and dashes in system names and short forms ("BI\u2010RADS", "LR\u20134"), names glued to their
category or dictated without the S ("BIRADS4", "BI-RAD 3"), version, edition and modality labels in brackets
("LI-RADS (v2018) category 5", "O-RADS (US) 3"), spelled-out system names ending in the acronym, side-labelled
lists after one system name ("BI-RADS 2 (right), 4A (left)"), hyphenated subdivisions ("BI-RADS 4-B"), number
words that count ("BI-RADS: two masses"), hedges right before a category ("possible BI-RADS 4"), categories the next
words deny or call unlikely, teaching text about a category in general ("BI-RADS 3 lesions have a <2% likelihood"),
open ranges ("CAD-RADS 4A and above"), a label naming an earlier study ("Last year: BI-RADS 4A"), an O-RADS score
of the other modality's lexicon (an "O-RADS US 4" quoted in an MRI report), LI-RADS diagnostic categories of
observations since treated, and thyroid scales that are not ACR TI-RADS ("EU-TIRADS 4", kept as the report's
words). Everything runs the real engine on the text.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import rads as _rads
from rules_probe import report as _report

from models.rules.rads import find_mentions, fold_dashes
from models.types import RadiologyReport

B, L, LI, T, P, OR, N, C, V, G = ("BI-RADS", "Lung-RADS", "LI-RADS", "TI-RADS", "PI-RADS", "O-RADS", "NI-RADS", "CAD-RADS",
                                 "VI-RADS", "GB-RADS")
MG, LD, MRL, UST, MRP, USP, MRPV, CTN, CC, MRB, USG = (
    "MG DIAGNOSTIC BILATERAL", "LDCT LUNG SCREENING", "MRI LIVER W WO", "US THYROID", "MRI PROSTATE W WO",
    "US PELVIS TRANSVAGINAL", "MRI PELVIS W WO", "CT NECK W CONTRAST", "CTA CORONARY", "MRI BLADDER W WO", "US GALLBLADDER")

# (procedure, impression, the stated category per the spec or None when the report states none)
_STATED = [
    # unicode dashes in the system name / short forms
    (MG, "BI\u2010RADS 4B \u2013 moderate suspicion.", (B, "4B")),
    (MG, "BI\u2011RADS category 3.", (B, "3")),
    (MG, "BI\u2013RADS 5.", (B, "5")),
    (LD, "Lung\u2011RADS v2022: 2.", (L, "2")),
    (MRL, "Segment 6 observation, LR\u20134.", (LI, "LR-4")),
    (MRL, "LR\u2011TR Nonviable.", (LI, "LR-TR Nonviable")),
    (UST, "Right lobe nodule, TR\u20134.", (T, "TR4")),
    (MRP, "PI\u2010RADS 4.", (P, "4")),
    (USP, "O\u2011RADS US 3.", (OR, "3")),
    (CC, "CAD\u2010RADS 3/P2.", (C, "3")),
    (CTN, "NI\u2010RADS 2a (primary).", (N, "2a")),
    (MRB, "VI\u2011RADS 4.", (V, "4")),
    (USG, "GB\u2010RADS 2.", (G, "2")),
    (MG, "BI-RADS 4 \u2014 suspicious (4A \u2013 low suspicion)", (B, "4A")),
    # glued / typo spellings
    (MG, "BIRADS4", (B, "4")),
    (MG, "BI-RADS4A.", (B, "4A")),
    (LD, "LungRADS2", (L, "2")),
    (MRP, "PIRADS5 lesion left PZ.", (P, "5")),
    (UST, "TIRADS4 nodule.", (T, "TR4")),
    (MG, "BI-RAD 3, probably benign.", (B, "3")),
    (MG, "BI- RADS 2.", (B, "2")),
    (MG, "bi rads 4 a", (B, "4A")),
    (MRP, "PI-RADS five.", (P, "5")),
    # version labels in brackets / before the category
    (MRL, "LI-RADS (v2018) category 5.", (LI, "LR-5")),
    (MRP, "PI-RADS (v2.1) score: 4.", (P, "4")),
    (LD, "Lung-RADS (v2022) category 4A.", (L, "4A")),
    (UST, "ACR TI-RADS (2017) level 4.", (T, "TR4")),
    (USP, "O-RADS (US) 3.", (OR, "3")),
    (MG, "BI-RADS (5th edition) category 2.", (B, "2")),
    (MG, "ACR BI-RADS Atlas 5th edition assessment: category 4B.", (B, "4B")),
    (MG, "BI-RADS v2025 category 3.", (B, "3")),
    (LD, "Lung-RADS\u00ae v2022 Category 4A.", (L, "4A")),
    (CC, "CAD-RADS 2.0 category 4A/P3.", (C, "4A")),
    (CC, "Reported per CAD-RADS 2.0.", None),
    (MRL, "LI-RADS v2018 CT/MRI: LR-4.", (LI, "LR-4")),
    (MRL, "CT/MRI LI-RADS v2018 category: LR-3.", (LI, "LR-3")),
    (MRP, "PI-RADS version 2.1 assessment: 3.", (P, "3")),
    (USP, "O-RADS US v2022 risk category 4 (intermediate risk).", (OR, "4")),
    (MRPV, "O-RADS MRI score 5.", (OR, "5")),
    # Category / Assessment / Final assessment phrasings
    (MG, "FINAL ASSESSMENT: 2 \u2013 BENIGN", (B, "2")),
    (MG, "ASSESSMENT: Category 0 \u2013 Incomplete: need additional imaging evaluation.", (B, "0")),
    (MG, "Final Assessment Category: 4A", (B, "4A")),
    (MG, "Overall assessment: Probably benign \u2013 Category 3.", (B, "3")),
    (LD, "Category: 3", (L, "3")),
    (LD, "ASSESSMENT CATEGORY 2S", (L, "2")),
    (MRP, "Overall assessment category: 5", (P, "5")),
    (CC, "Final assessment: CAD-RADS 1.", (C, "1")),
    (MRB, "Assessment: VI-RADS score 3 (equivocal).", (V, "3")),
    (USG, "Assessment: GB-RADS 5 (loss of interface with the liver).", (G, "5")),
    (MG, "Breast density: category C (heterogeneously dense). Assessment: BI-RADS 1.", (B, "1")),
    (MG, "ACR breast density category 2. Final assessment: 1 - negative.", (B, "1")),
    # multiple lesions, different categories
    (MG, "Mass A (right 10:00): BI-RADS 4B.\nMass B (right 2:00): BI-RADS 3.", (B, "4B")),
    (MG, "RIGHT BREAST: BI-RADS 1\nLEFT BREAST: BI-RADS 4C\nOVERALL: BI-RADS 4C", (B, "4C")),
    (MG, "Right: BI-RADS 3 (6-month follow-up). Left: BI-RADS 2.", (B, "3")),
    (MG, "BI-RADS 6 right breast (known carcinoma); BI-RADS 0 left breast, additional views needed.", (B, "0")),
    (LD, "Nodule 1 RUL: Lung-RADS 2. Nodule 2 LLL: Lung-RADS 4A. Overall Lung-RADS 4A.", (L, "4A")),
    (MRL, "Observation 1 (segment 7): LR-4. Observation 2 (segment 2): LR-3.", (LI, "LR-4")),
    (MRL, "LR-5 segment 8; LR-M segment 3.", (LI, "LR-5")),
    (UST, "Nodule 1 (right mid): ACR TI-RADS TR3.\nNodule 2 (left lower): ACR TI-RADS TR5.", (T, "TR5")),
    (MRP, "Lesion 1: PI-RADS 4 (left PZ). Lesion 2: PI-RADS 3 (right TZ).", (P, "4")),
    (USP, "Right ovary: O-RADS 2. Left ovary: O-RADS 4.", (OR, "4")),
    (CTN, "Primary site: NI-RADS 2b. Neck: NI-RADS 1.", (N, "2b")),
    (MRB, "Lesion 1: VI-RADS 2. Lesion 2: VI-RADS 4.", (V, "4")),
    # comparisons to prior categories
    (MG, "Previous mammogram 01/2024: BI-RADS 3. Today: BI-RADS 2.", (B, "2")),
    (MG, "Downgraded from BI-RADS 3 to BI-RADS 2 after 24 months of stability.", (B, "2")),
    (MRL, "Upgraded from LR-3 to LR-4 due to interval growth.", (LI, "LR-4")),
    (LD, "Previously Lung-RADS 4A, now Lung-RADS 3 after 3-month follow-up.", (L, "3")),
    (UST, "TI-RADS TR3 on prior; now TR4.", (T, "TR4")),
    (CC, "Compared to prior CAD-RADS 3, now CAD-RADS 4A.", (C, "4A")),
    (MRP, "Unchanged from prior, PI-RADS 3.", (P, "3")),
    (MRL, "Stable LR-3 observation (LR-3 on 2024-05-01 MRI).", (LI, "LR-3")),
    (MG, "Stable, BI-RADS 2 (was BI-RADS 3 in 2023).", (B, "2")),
    (MRP, "Prior MRI (2023) was PI-RADS 4; biopsy benign. No lesion today.", None),
    (MRPV, "Previously O-RADS US 4 on ultrasound. O-RADS MRI score 2.", (OR, "2")),
    (MRPV, "The left adnexal lesion (O-RADS US 4 on the 3/1/2025 ultrasound) is an endometrioma. O-RADS MRI 2.", (OR, "2")),
    (MRPV, "Left adnexal lesion assigned O-RADS US 4 on ultrasound is a dermoid. O-RADS MRI score 2.", (OR, "2")),
    (USP, "O-RADS US 3. O-RADS MRI recommended for further characterization.", (OR, "3")),
    # negated or hypothetical mentions
    (MRL, "No lesion meets LR-5 criteria. Largest observation LR-3.", (LI, "LR-3")),
    (MRP, "There are no PI-RADS 4 or 5 lesions.", None),
    (LD, "If the nodule grows, it would be upgraded to Lung-RADS 4B. Lung-RADS 3.", (L, "3")),
    (MG, "BI-RADS 4 could be considered if there is clinical concern; otherwise BI-RADS 3.", (B, "3")),
    (MRL, "Without features to suggest LR-M. LR-4.", (LI, "LR-4")),
    (CTN, "Does not meet criteria for NI-RADS 3. NI-RADS 2b.", (N, "2b")),
    (USP, "Features are not those of an O-RADS 5 lesion. O-RADS 3.", (OR, "3")),
    (MRP, "PI-RADS 5 is unlikely; PI-RADS 3.", (P, "3")),
    (MG, "No suspicious findings to warrant BI-RADS 4. BI-RADS 2.", (B, "2")),
    (MRL, "Probably LR-4 versus LR-5.", None),
    (USP, "O-RADS 4 vs 5 lesion.", None),
    (MRL, "LR-5 cannot be assigned because washout is not seen; LR-4.", (LI, "LR-4")),
    (CC, "CAD-RADS 4A would apply if the LAD stenosis were confirmed; CAD-RADS 3.", (C, "3")),
    # teaching text / legend text
    (MG, "BI-RADS 2. Note: BI-RADS 3 lesions have a less than 2% likelihood of malignancy.", (B, "2")),
    (LD, "Lung-RADS categories: 1 negative, 2 benign, 3 probably benign, 4A suspicious, 4B very suspicious.\nAssessment: Lung-RADS 2.", (L, "2")),
    (MRP, "PI-RADS scores: 1 = very low, 2 = low, 3 = intermediate, 4 = high, 5 = very high.\nThis patient: PI-RADS 3.", (P, "3")),
    (UST, "For reference: TR1 benign, TR2 not suspicious, TR3 mildly suspicious, TR4 moderately suspicious, TR5 highly suspicious.\nNodule: TR3.", (T, "TR3")),
    (MRL, "LI-RADS key: LR-1 definitely benign, LR-2 probably benign, LR-3 intermediate, LR-4 probably HCC, LR-5 definitely HCC.\nSegment 4 observation: LR-3.", (LI, "LR-3")),
    (CC, "CAD-RADS 2. CAD-RADS 4A and above warrant consideration of invasive angiography.", (C, "2")),
    (MG, "BI-RADS 4 findings carry a 2-95% likelihood of malignancy.", None),
    (LD, "Lung-RADS 4B nodules are managed with diagnostic CT or PET/CT. Lung-RADS 2.", (L, "2")),
    # recommendations that quote a category
    (MRP, "Recommend MRI-targeted biopsy of the PI-RADS 4 lesion.", (P, "4")),
    (MG, "BI-RADS 3. Recommend follow-up per BI-RADS 3 protocol in 6 months.", (B, "3")),
    (LD, "Lung-RADS 4A. Per Lung-RADS 4A management, LDCT in 3 months.", (L, "4A")),
    (UST, "TR4 nodule measuring 1.7 cm: FNA recommended per ACR TI-RADS criteria.", (T, "TR4")),
    (USP, "O-RADS US 4: referral to gynecologic oncology recommended.", (OR, "4")),
    # addenda
    # dictation artefacts, mixed case, spacing
    (MG, "IMPRESSION: bi-rads CATEGORY 2  BENIGN", (B, "2")),
    (MG, "BI-RADS:4", (B, "4")),
    (MG, "BI RADS IV", (B, "4")),
    (LD, "LUNG RADS 4 X", (L, "4X")),
    (MRL, "lr 5", (LI, "LR-5")),
    (MRL, "LI RADS LR 4", (LI, "LR-4")),
    (UST, "tr 3 nodule left lobe", (T, "TR3")),
    (CC, "CAD RADS 4 B", (C, "4B")),
    (CTN, "ni-rads 3", (N, "3")),
    # mixed other-system mentions in an exam
    (LD, "Lung-RADS 2. Incidental thyroid nodule, ACR TI-RADS 4; thyroid US recommended.", (L, "2")),
    ("CT ABDOMEN PELVIS W CONTRAST", "Cirrhotic liver with 2.2 cm LR-4 observation. Incidental thyroid nodule TR3.", (LI, "LR-4")),
    ("MRI BREAST BILATERAL", "BI-RADS 2. Incidental 1.1 cm liver lesion, likely hemangioma.", (B, "2")),
    # CAD-RADS details
    (CC, "CAD-RADS 0 (no plaque or stenosis).", (C, "0")),
    (CC, "CAD-RADS N: non-diagnostic study due to motion.", (C, "N")),
    (CC, "CAD-RADS 5/HRP (proximal RCA occlusion).", (C, "5")),
    (CC, "CAD-RADS\u2122 3", (C, "3")),
    (CC, "Calcium score 0 (CAC category 0). CAD-RADS 1.", (C, "1")),
    # NI-RADS
    (CTN, "NI-RADS 0 (prior imaging being obtained).", (N, "0")),
    (CTN, "NI-RADS 4 \u2013 definite recurrence, biopsy proven.", (N, "4")),
    (CTN, "NI-RADS: Primary 1, Neck 1.", (N, "1")),
    # VI-RADS / GB-RADS
    (MRB, "VI-RADS: 5 (extravesical extension).", (V, "5")),
    (MRPV, "Bladder mass, VI-RADS 4.", (V, "4")),
    (USG, "GB-RADS: 3 \u2013 equivocal.", (G, "3")),
    ("US ABDOMEN RUQ", "Diffuse symmetric gallbladder wall thickening with layered appearance, GB-RADS 2.", (G, "2")),
    # hedged category mentions
    (MG, "Possible BI-RADS 4 lesion, see below. BI-RADS 3.", (B, "3")),
    (MRL, "Questionable LR-5. Favor LR-4.", (LI, "LR-4")),
    # full system names and templates
    (MG, "BREAST IMAGING REPORTING AND DATA SYSTEM (BI-RADS) CATEGORY: 4", (B, "4")),
    (LD, "Lung Imaging Reporting and Data System (Lung-RADS) category 3.", (L, "3")),
    (MRP, "Prostate Imaging-Reporting and Data System (PI-RADS) score 4.", (P, "4")),
    (UST, "ACR Thyroid Imaging Reporting and Data System (TI-RADS): TR4.", (T, "TR4")),
    (CC, "Coronary Artery Disease Reporting and Data System (CAD-RADS): 2", (C, "2")),
    (MRL, "LI-RADS category: LR-5 (segment 7, 2.4 cm).", (LI, "LR-5")),
    (LD, "LUNG-RADS ASSESSMENT: Category 4B - Very suspicious", (L, "4B")),
    (LD, "Lung-RADS Category: 2 - Benign Appearance or Behavior\nS Modifier: No\nRecommendation: Continue annual screening with LDCT in 12 months.", (L, "2")),
    (LD, "Prior Lung-RADS: 3\nCurrent Lung-RADS: 2", (L, "2")),
    (MG, "Previous BI-RADS: 4A (biopsy: fibroadenoma)\nCurrent BI-RADS: 2", (B, "2")),
    # side-labelled lists after one system name
    (MG, "BI-RADS: Right 2, Left 4A.", (B, "4A")),
    (MG, "BI-RADS 2 (right), 4A (left).", (B, "4A")),
    (MG, "BI-RADS Category Right Breast: 2\nBI-RADS Category Left Breast: 4B", (B, "4B")),
    (USP, "O-RADS US: 2 (right), 3 (left).", (OR, "3")),
    (MG, "BI-RADS 1 right, 4B left.", (B, "4B")),
    # LI-RADS treatment response beside the pre-treatment category
    (MRL, "Known HCC (LR-5) status post ablation: LR-TR Nonviable.", (LI, "LR-TR Nonviable")),
    (MRL, "Segment 7 LR-5 observation, previously treated with RFA, now LR-TR Nonviable.", (LI, "LR-TR Nonviable")),
    (MRL, "LI-RADS: LR-TR Viable (segment 8, treated with TACE).", (LI, "LR-TR Viable")),
    ("US LIVER", "US LI-RADS: US-3. Visualization score B.", None),
    ("US ABDOMEN LIMITED", "CEUS LI-RADS: CEUS LR-5.", (LI, "LR-5")),
    # TI-RADS
    (UST, "ACR TI-RADS 7 points (TR5).", (T, "TR5")),
    (UST, "Nodule A: TR3 (1.1 cm), no follow-up. Nodule B: TR4 (1.6 cm), FNA.", (T, "TR4")),
    (UST, "ti rads tr 4", (T, "TR4")),
    # PI-RADS
    (MRP, "PI-RADS Score: 4/5", (P, "4")),
    (MRP, "PI-RADS 4 (T2W 4, DWI 4, DCE +).", (P, "4")),
    (MRP, "PI-RADS v2.1 category 3 lesion in the TZ; no PI-RADS \u22654 lesion.", (P, "3")),
    (MRP, "Highest PI-RADS score: 5", (P, "5")),
    (MRP, "Dominant lesion: PI-RADS 4. Additional PI-RADS 2 lesions.", (P, "4")),
    (MRP, "Not meeting criteria for PI-RADS 4. PI-RADS 3.", (P, "3")),
    (MRP, "pi rads 4", (P, "4")),
    # O-RADS
    (USP, "O-RADS US risk stratification: category 2 (almost certainly benign).", (OR, "2")),
    (USP, "O-RADS US Category: 3 - Low Risk", (OR, "3")),
    (MRPV, "O-RADS MRI risk score 4; recommend gynecologic oncology referral.", (OR, "4")),
    (USP, "O-RADS: N/A (no adnexal lesion).", None),
    # NI-RADS
    (CTN, "NI-RADS Primary: 2A, NI-RADS Neck: 1", (N, "2a")),
    (CTN, "NI-RADS category 2 (neck).", (N, "2")),
    # CAD-RADS
    (CC, "CAD-RADS 3 (P2) - moderate stenosis mid LAD 50-69%.", (C, "3")),
    (CC, "CAD-RADS 2.0: 4A / P3 / HRP", (C, "4A")),
    (CC, "CAD-RADS 1.0 category 3", (C, "3")),
    # VI-RADS, GB-RADS
    (MRB, "VI-RADS score 4 (likely muscle invasion).", (V, "4")),
    (MRB, "VI-RADS 2 (SC 2, CEC 2, DWI 1).", (V, "2")),
    (USG, "GB-RADS category 3 (equivocal).", (G, "3")),
    # negated / hypothetical
    (MG, "No BI-RADS 4 or 5 lesions are seen. BI-RADS 2.", (B, "2")),
    (LD, "There is no Lung-RADS 4X feature. Lung-RADS 4A.", (L, "4A")),
    (MRL, "Would be LR-5 if 20 mm or larger; currently LR-4.", (LI, "LR-4")),
    (LD, "Should this persist, it would be considered Lung-RADS 4B. Currently Lung-RADS 4A.", (L, "4A")),
    (MG, "In the absence of prior studies, BI-RADS 0 is assigned.", (B, "0")),
    # teaching text
    (LD, "Lung-RADS 4A: suspicious (5-15% probability of malignancy).", (L, "4A")),
    (MG, "BI-RADS 3 = probably benign (<2% malignancy).", (B, "3")),
    (MG, "Per ACR, a BI-RADS 3 finding should have a likelihood of malignancy of 2% or less. BI-RADS 2.", (B, "2")),
    (MRL, "An LR-5 observation is present in segment 7.", (LI, "LR-5")),
    (MG, "Both BI-RADS 4 lesions require biopsy.", (B, "4")),
    (MRL, "LR-5 is defined as definitely HCC. Segment 4 observation: LR-4.", (LI, "LR-4")),
    (UST, "TR5 nodules of 1 cm or more warrant FNA. Right lobe nodule, TR3.", (T, "TR3")),
    # prior categories in brackets, timelines
    (LD, "Lung-RADS 2 (prior Lung-RADS 3).", (L, "2")),
    (MG, "BI-RADS 2 (previously 3).", (B, "2")),
    (UST, "TR4 (previously TR3 in 2022).", (T, "TR4")),
    (MRL, "Interval decrease. LR-3 (was LR-4).", (LI, "LR-3")),
    (MG, "Last year: BI-RADS 4A, biopsy benign. This year: BI-RADS 2.", (B, "2")),
    # dictation / spelling
    (MG, "bi-rads category four (suspicious)", (B, "4")),
    (MG, "birads 4 b", (B, "4B")),
    (LD, "Lung rads category 3", (L, "3")),
    (MRL, "LI-RADS category five.", (LI, "LR-5")),
    (MG, "BI-RADS 4-B.", (B, "4B")),
    (LD, "Lung-RADS 4-A.", (L, "4A")),
    (MG, "BI-RADS, left 2:00 mass, see below. BI-RADS 3.", (B, "3")),
    (MG, "BI-RADS\u00ae Category 4B \u2014 Moderate Suspicion for Malignancy", (B, "4B")),
    (LD, "Lung-RADS 4B/4X.", None),
    (MRL, "LR\u20115 versus LR\u2011M.", None),
    (MG, "Final Assessment Category (BI-RADS): 4B", (B, "4B")),
    (MG, "BI-RADS final assessment: 4B", (B, "4B")),
    (MG, "Overall BI-RADS assessment: 4B (right) and 2 (left).", (B, "4B")),
    (MG, "BI-RADS 2 (left) and 4B (right).", (B, "4B")),
    (MG, "Recommend 6-month follow-up (BI-RADS 3).", (B, "3")),
    (MG, "Impression: Benign (BI-RADS 2). Recommend annual screening.", (B, "2")),
    (MRP, "PI-RADS 2 \u2013 low (clinically significant cancer is unlikely to be present).", (P, "2")),
    (MRP, "PI-RADS 1 \u2013 very low (clinically significant cancer is highly unlikely to be present).", (P, "1")),
    (UST, "TI-RADS TR2 \u2013 not suspicious.", (T, "TR2")),
    (MRB, "VI-RADS 2: muscle invasion is unlikely.", (V, "2")),
    (USG, "GB-RADS 4 (malignancy likely).", (G, "4")),
    (CTN, "NI-RADS 2a: low suspicion; direct visual inspection recommended.", (N, "2a")),
    (MRL, "LR-M (probably or definitely malignant, not HCC specific).", (LI, "LR-M")),
    (MRL, "LR-NC due to motion; repeat MRI in 3 months.", (LI, "LR-NC")),
    (CC, "CAD-RADS N \u2013 non-diagnostic; obstructive CAD cannot be excluded.", (C, "N")),
    (LD, "Lung-RADS 4A \u2013 Suspicious. A 3-month LDCT is recommended; PET/CT may be considered.", (L, "4A")),
    (MRL, "The LR-5 category is reserved for observations meeting all criteria. Segment 4 observation: LR-4.", (LI, "LR-4")),
    (LD, "Lung-RADS category 4 X.", (L, "4X")),
    (UST, "TI-RADS TR 4.", (T, "TR4")),
    (MG, "BI-RADS 4 (4\u2011B).", (B, "4B")),
    (MRPV, "Right adnexal lesion: O-RADS MRI score 4 (solid tissue, intermediate-risk curve).", (OR, "4")),
    (USP, "O-RADS US 2 \u2013 almost certainly benign; per O-RADS US v2022 management, no follow-up.", (OR, "2")),
    (MG, "ADDENDUM TO FOLLOW. BI-RADS 0.", (B, "0")),
    # structured templates and multi-line impressions
    (MG, "IMPRESSION:\n1. Right breast 10:00 mass, 1.4 cm, irregular, spiculated \u2013 BI-RADS 5.\n2. Left breast benign calcifications \u2013 BI-RADS 2.\nOVERALL ASSESSMENT: BI-RADS 5 \u2013 HIGHLY SUGGESTIVE OF MALIGNANCY.", (B, "5")),
    (LD, "LUNG-RADS CATEGORY: 3\nS MODIFIER: YES \u2013 moderate coronary artery calcification\nRECOMMENDATION: LDCT in 6 months.", (L, "3")),
    (MRL, "LI-RADS SUMMARY\nObservation 1: Segment 8, 2.6 cm, APHE, washout, capsule \u2013 LR-5\nObservation 2: Segment 3, 0.7 cm \u2013 LR-3\nTumor in vein: absent", (LI, "LR-5")),
    (UST, "RIGHT LOBE NODULE #1: 1.8 cm, solid, hypoechoic, smooth \u2013 ACR TI-RADS 4 (TR4): FNA recommended.\nLEFT LOBE NODULE #2: 0.6 cm spongiform \u2013 TR1.", (T, "TR4")),
    (MRP, "PI-RADS ASSESSMENT\nLesion 1 (left PZ mid, 1.1 cm): T2 4, DWI 4, DCE +; PI-RADS 4\nLesion 2 (right TZ apex): PI-RADS 2\nOverall PI-RADS: 4", (P, "4")),
    (USP, "Left ovary: 4.2 cm unilocular cyst with smooth inner wall (O-RADS US 2).\nRight ovary: multilocular cyst with irregular inner wall (O-RADS US 4).", (OR, "4")),
    (CTN, "NI-RADS SUMMARY:\nPrimary: 2b (ill-defined enhancement at the resection bed)\nNeck: 1", (N, "2b")),
    (CC, "IMPRESSION:\n1. Moderate stenosis (50-69%) of the proximal LAD.\n2. CAD-RADS 3/P2.\n3. Recommend functional assessment.", (C, "3")),
    (MRB, "Bladder tumor at the left lateral wall with disrupted muscularis propria on T2 and DWI: VI-RADS 4.", (V, "4")),
    (USG, "Focal gallbladder wall thickening with loss of the interface with the liver, GB-RADS 5.", (G, "5")),
    (MG, "ADDENDUM: BI-RADS 0 is an error in the body of this report; BI-RADS 2.", (B, "2")),
    (MG, "Recommendation: return to routine screening (BI-RADS 1 \u2013 Negative).", (B, "1")),
    (LD, "Lung-RADS 2 \u2013 benign appearance. Lung-RADS 3 criteria are not met.", (L, "2")),
    (MRL, "LR-3 observation, segment 6. No LR-4, LR-5, LR-M or LR-TIV observations.", (LI, "LR-3")),
    (MRP, "PI-RADS 3 (equivocal). PI-RADS 4 would require focal DWI hyperintensity of 1.5 cm or more.", (P, "3")),
    (USP, "O-RADS US 3. If solid components are confirmed on MRI, the score would be O-RADS 4.", (OR, "3")),
    (CC, "Plaque burden P2. CAD-RADS 2. CAD-RADS 3 not met (stenosis < 50%).", (C, "2")),
    # a category set aside for another ("rather than", "instead of"), a subcategory letter, an arrow
    (MG, "BI-RADS 3 rather than BI-RADS 4A given stability.", (B, "3")),
    (MRL, "LR-4 instead of LR-5 because the observation is under 10 mm.", (LI, "LR-4")),
    (MG, "BI-RADS 4, subcategory B.", (B, "4B")),
    (MG, "BI-RADS 3 \u2192 4A due to interval growth.", (B, "4A")),
    (MG, "BI-RADS 4A (upgraded from 3).", (B, "4A")),
    (MG, "Assessment: Incomplete \u2013 BI-RADS 0.", (B, "0")),
    (LD, "Category 0 \u2013 pending comparison with outside CT.", (L, "0")),
    (MRL, "LR-5 (OPTN class 5A).", (LI, "LR-5")),
    (MG, "BI-RADS 4 (2 lesions).", (B, "4")),
    (MG, "Calcifications? BI-RADS 3.", (B, "3")),
    # today's category the prior shared, and a bracket naming only the prior
    (MG, "BI-RADS 2, as on the prior.", (B, "2")),
    (MRL, "LR-3, same as previous.", (LI, "LR-3")),
    (MG, "Prior mammogram: BI-RADS 3, as on the prior.\nToday: BI-RADS 2.", (B, "2")),
    (MG, "BI-RADS 3 (prior), now BI-RADS 2.", (B, "2")),
    (LD, "Lung-RADS 3 (from prior study), now Lung-RADS 2, as on the earlier exams.", (L, "2")),
    # VI-RADS, GB-RADS, NI-RADS, CAD-RADS, O-RADS, Lung-RADS, TI-RADS and LI-RADS templates of every category kind
    (MRB, "VI-RADS 3 \u2013 equivocal muscle invasion; correlate with re-TURBT.", (V, "3")),
    (MRB, "VIRADS: 1", (V, "1")),
    (MRB, "Vesical Imaging-Reporting and Data System (VI-RADS) score 5.", (V, "5")),
    (MRB, "No VI-RADS 4 or 5 features. VI-RADS 2.", (V, "2")),
    (USG, "GB-RADS 1 (normal wall).", (G, "1")),
    (USG, "GBRADS 3", (G, "3")),
    (USG, "GB-RADS 0: contracted gallbladder, not evaluable; repeat after fasting.", (G, "0")),
    (CTN, "NI-RADS 1 (primary) and NI-RADS 1 (neck).", (N, "1")),
    (CTN, "NI-RADS neck 3; primary 1.", (N, "3")),
    (CTN, "Neck Imaging Reporting and Data System (NI-RADS): primary 2a, neck 1.", (N, "2a")),
    (CC, "CAD-RADS 4A/HRP/P3 (severe proximal LAD stenosis).", (C, "4A")),
    (CC, "CAD-RADS 0/P0", (C, "0")),
    (CC, "CAD-RADS: 5 (chronic total occlusion of the mid RCA).", (C, "5")),
    (USP, "O-RADS US 0 (incomplete evaluation due to bowel gas).", (OR, "0")),
    (USP, "O-RADS US 1: normal premenopausal ovaries.", (OR, "1")),
    (MRPV, "Endometrioma left ovary, O-RADS MRI 2. No O-RADS MRI 4 or 5 features.", (OR, "2")),
    (LD, "Lung-RADS 4X (spiculated 12 mm solid nodule with hilar adenopathy).", (L, "4X")),
    (LD, "Lung-RADS: Category 1 - Negative. No lung nodules.", (L, "1")),
    (UST, "ACR TI-RADS TR1 (spongiform); no follow-up needed.", (T, "TR1")),
    (MRL, "LR-TR Nonevaluable due to artifact from lipiodol.", (LI, "LR-TR Nonevaluable")),
    # a second category after one system name, each with its zone, segment, lobe or lesion number
    (MRP, "PI-RADS: 3 (TZ) / 4 (PZ)", (P, "4")),
    (MRL, "LI-RADS: 3 (segment 2), 5 (segment 8)", (LI, "LR-5")),
    (MRP, "PI-RADS 2 (lesion 1), 4 (lesion 2).", (P, "4")),
    (UST, "TI-RADS 3 (right lobe), 5 (left lobe)", (T, "TR5")),
    (MRP, "PI-RADS 3 (TZ) / 4 cm gland", (P, "3")),
    (MRP, "PI-RADS 4 (upgraded from 3 based on DCE).", (P, "4")),
    (UST, "TI-RADS: TR4 (4 points) and TR3 (3 points)", (T, "TR4")),
    # the report's own recommendation about its own finding is no teaching text
    (MG, "2. BI-RADS 3 findings should be followed with 6-month diagnostic mammogram.", (B, "3")),
    (MG, "BI-RADS 4 findings require biopsy.", (B, "4")),
    (MG, "BI-RADS 3 lesions: 2 (right 10:00 and left 3:00).", (B, "3")),
    (MG, "Note: BI-RADS 4 lesions are biopsied. BI-RADS 3.", (B, "3")),
    (MG, "Possibly benign, BI-RADS 3.", (B, "3")),
    (MG, "BI-RADS: two masses.", None),
    (MG, "BI-RADS IV lesion.", (B, "4")),
    (UST, "TI-RADS: three nodules, see below. Dominant nodule TR4.", (T, "TR4")),
    (MG, "BI-RADS Right: 1 Left: 2", (B, "2")),
    (MG, "BI-RADS:\nRight: 1\nLeft: 4A", (B, "4A")),
    (MRL, "LR-4 observation adjacent to the treated lesion.", (LI, "LR-4")),
    (MRL, "LR-5 observation in segment 8, to be treated with TACE.", (LI, "LR-5")),
    (MRL, "LR-4 observation; patient status post TIPS.", (LI, "LR-4")),
    (MRL, "LR-5 in segment 7 and LR-TR Nonviable lesion s/p TACE in segment 4.", (LI, "LR-5")),
    (MG, "Comparison with prior: BI-RADS 2, stable.", (B, "2")),
    (MG, "Mammographic BI-RADS 0; sonographic BI-RADS 4A.", (B, "4A")),
    # denials, thresholds, baselines and teaching lines of another kind
    (MRL, "No evidence of LR-TIV. LR-5.", (LI, "LR-5")),
    (MRL, "LR-5 segment 7. Tumor in vein (LR-TIV) is not present.", (LI, "LR-5")),
    (MRL, "LR-4. LR-TIV excluded.", (LI, "LR-4")),
    (MRL, "Negative for LR-M features. LR-4.", (LI, "LR-4")),
    (MRL, "Cannot be categorized as LR-5 given size under 10 mm; LR-4.", (LI, "LR-4")),
    (MG, "Pending biopsy results, BI-RADS 4A.", (B, "4A")),
    (LD, "Per Lung-RADS v2022, category 4A nodules are followed at 3 months. Category 3.", (L, "3")),
    (UST, "FNA is recommended for TR5 nodules of 1 cm or larger; this TR4 nodule measures 1.2 cm.", (T, "TR4")),
    (UST, "ACR TI-RADS recommends FNA for TR3 nodules \u22652.5 cm. Right lobe nodule TR3, 1.2 cm, no FNA.", (T, "TR3")),
    (MRL, "Interval development of LR-5 observation (new since prior).", (LI, "LR-5")),
    (LD, "Lung-RADS 4A at baseline; now Lung-RADS 3.", (L, "3")),
    (MG, "BIRADS category #4", (B, "4")),
    (MG, "BI-RADS cat. 3", (B, "3")),
    (MG, "BI-RADS 0 (incomplete) - needs additional imaging evaluation and/or prior mammograms for comparison.", (B, "0")),
    (MG, "BI-RADS 1 (negative), as on prior exams.", (B, "1")),
    (UST, "TI-RADS 4/5", (T, "TR4")),
    (MRL, "Two LR-3 observations and one LR-4 observation.", (LI, "LR-4")),
    (MG, "Bi-Rads Category Four.", (B, "4")),
    (CC, "CAD-RADS 4A and above warrant invasive angiography; this patient: CAD-RADS 3/P1.", (C, "3")),
    (MRP, "PI-RADS 3 or higher lesions are targeted. No lesion today; PI-RADS 1.", (P, "1")),
    (MG, "Any BI-RADS 4 finding requires tissue sampling. BI-RADS 2.", (B, "2")),
    (MG, "A BI-RADS 4 lesion is seen at 2:00.", (B, "4")),
    (MG, "Suspicious mass at 2:00 (BI-RADS 4B), biopsy recommended.", (B, "4B")),
    (MG, "BI-RADS 4B at 2:00, BI-RADS 2 at 10:00.", (B, "4B")),
]


@pytest.mark.parametrize(("procedure", "impression", "expected"), _STATED)
def test_stated_category(procedure: str, impression: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure)) == expected


# ---- addenda: a category an addendum states revises the body's; one that only talks about categories does not ----

_ADDENDA = [
    (MG, "BI-RADS 0: incomplete, prior films requested.", "Outside films now available: no change. BI-RADS 2.", (B, "2")),
    (MRL, "LR-4.", "Correction: LR-5 (dictation error).", (LI, "LR-5")),
    (MRP, "PI-RADS 3.", "Typographical error corrected; the PI-RADS score is 4.", (P, "4")),
    (LD, "Lung-RADS 3.", "Results discussed with Dr. Smith on 1/2/2025.", (L, "3")),
    (MG, "BI-RADS 4A.", "The previously reported BI-RADS 4A is an error; correct assessment: BI-RADS 3.", (B, "3")),
    (USP, "O-RADS US 4.", "O-RADS MRI recommended; discussed with ordering provider.", (OR, "4")),
    (MG, "BI-RADS 4A.", "BI\u2011RADS category revised to 3 \u2013 probably benign.", (B, "3")),
    (MRL, "LR-4.", "Reviewed at tumour board; no change to the LR-4 assessment. LR-5 would require washout.", (LI, "LR-4")),
    (MG, "BI-RADS 2.", "The prior BI-RADS 4 assessment from 2023 was reviewed; no change.", (B, "2")),
    (MG, "BI-RADS 0.", "Addendum #1: outside films received, BI-RADS 3.\nAddendum #2: after biopsy correlation, BI-RADS 2.",
     (B, "2")),
    (MG, "BI-RADS 4B.", "Patient notified by phone on 1/3/2026; biopsy scheduled.", (B, "4B")),
    # teaching text in an addendum revises nothing
    (MG, "BI-RADS 4B.", "Patient notified. Note: BI-RADS 4 lesions have a 2-95% likelihood of malignancy.", (B, "4B")),
]


@pytest.mark.parametrize(("procedure", "impression", "addendum", "expected"), _ADDENDA)
def test_addendum(procedure: str, impression: str, addendum: str, expected: tuple[str, str] | None) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=procedure, addendum=addendum)) == expected


# ---- other thyroid scales than ACR TI-RADS: the report's words, never an ACR TR level ---------------------------

@pytest.mark.parametrize(("impression", "words"), [
    ("EU-TIRADS 4.", "EU-TIRADS 4"),
    ("K-TIRADS 4; FNA recommended.", "K-TIRADS 4"),
    ("C-TIRADS 4A", "C-TIRADS 4A"),
    ("Right lobe nodule, EU\u2011TIRADS 5.", "EU-TIRADS 5"),
])
def test_other_thyroid_scale_is_kept_as_words(impression: str, words: str) -> None:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=UST))
    assert got is not None
    assert got.value.category is None and got.value.system == T  # type: ignore[union-attr]
    assert got.value.stated_category == words  # type: ignore[union-attr]


def test_acr_level_stands_beside_another_scale() -> None:
    got = ENGINE.rads(_report("Right nodule: Kwak TIRADS 4b. Left nodule: ACR TI-RADS TR3.", findings="See impression.",
                              procedure=UST))
    assert got is not None and got.value.category == "TR3"  # type: ignore[union-attr]
    assert got.note and "Kwak-TIRADS 4B" in got.note


# ---- dashes are folded one for one: offsets and evidence stay the report's own -----------------------------------

def test_fold_dashes_keeps_offsets() -> None:
    text = "BI\u2010RADS 4B \u2013 suspicious; LR\u20115 \u2014 definite."
    folded = fold_dashes(text)
    assert len(folded) == len(text) and folded == "BI-RADS 4B - suspicious; LR-5 - definite."
    got = [(m.system, m.category, text[m.start : m.end]) for m in find_mentions(text)]
    assert got == [(B, "4B", "BI\u2010RADS 4B"), (LI, "LR-5", "LR\u20115")]


def test_evidence_quotes_the_report_with_its_unicode_dash() -> None:
    impression = "Irregular mass left breast 2:00, BI\u2011RADS 5."
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=MG))
    assert got is not None and got.value.category == "5"  # type: ignore[union-attr]
    assert "BI\u2011RADS 5" in got.evidence[0].sentence


# ---- modifiers still read with the new spellings ----------------------------------------------------------------

@pytest.mark.parametrize(("procedure", "impression", "modifiers"), [
    (LD, "LUNG-RADS 2S \u2013 S: emphysema", ("S",)),
    (LD, "Lung\u2011RADS 4A with S modifier (aortic aneurysm).", ("S",)),
    (LD, "Lung-RADS 2 (S) \u2013 emphysema.", ("S",)),
    (LD, "Lung-RADS 2 (no S modifier).", ()),
    (CC, "CAD\u2010RADS 3/P2/HRP \u2013 moderate stenosis", ("HRP", "P2")),
    (CTN, "NI-RADS Primary: 2A, NI-RADS Neck: 1", ("neck 1", "primary 2a")),
])
def test_modifiers(procedure: str, impression: str, modifiers: tuple[str, ...]) -> None:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=procedure))
    assert got is not None
    assert tuple(sorted(got.value.modifiers)) == modifiers  # type: ignore[union-attr]


# ---- a text-only report: the body's exam line names the modality that tells O-RADS US from MRI -------------------

def test_text_only_mri_report_drops_the_ultrasound_score() -> None:
    report = RadiologyReport(report_id="r8", findings="EXAM: MRI PELVIS W WO\nLeft adnexal lesion (O-RADS US 4 on "
                             "ultrasound) is an endometrioma.", impression="O-RADS MRI 2.")
    assert _rads(report) == (OR, "2")


def test_ultrasound_report_keeps_its_own_score_when_mri_is_recommended() -> None:
    assert _rads(_report("O-RADS US 4. O-RADS MRI recommended.", findings="See impression.", procedure=USP)) == (OR, "4")


def test_ultrasound_report_drops_a_quoted_mri_score() -> None:
    impression = "O-RADS MRI 4 on the outside MRI. O-RADS US 3."
    assert _rads(_report(impression, findings="See impression.", procedure=USP)) == (OR, "3")


# ---- tables and text-only reports ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("procedure", "table", "expected"), [
    ("MG DIAGNOSTIC", "| Lesion | Size | BI\u2011RADS |\n|---|---|---|\n| Left 2:00 | 1.2 cm | 4B |\n| Right 10:00 | 0.5 cm | 2 |",
     (B, "4B")),
    ("MG DIAGNOSTIC", "| Lesion | Size | BI-RADS |\n|---|---|---|\n| Left 2:00 | 1.2 cm | 4\u2011B |\n| Right 10:00 | 0.5 cm | 2 |",
     (B, "4B")),
    ("MRI PROSTATE", "| Lesion | PI-RADS (v2.1) |\n|---|---|\n| 1 | 4 |\n| 2 | 3 |", (P, "4")),
    ("MRI PROSTATE", "| Lesion | PI-RADS v2.1 score |\n|---|---|\n| 1 (prior 2023) | 5 |\n| 2 | 3 |", (P, "3")),
    ("US THYROID", "| Nodule | Location | ACR TI-RADS (2017) |\n|---|---|---|\n| 1 | right | 3 |\n| 2 | left | 5 |", (T, "TR5")),
])
def test_rads_column_of_a_table(procedure: str, table: str, expected: tuple[str, str]) -> None:
    assert _rads(_report("See table.", findings=table, procedure=procedure)) == expected


@pytest.mark.parametrize(("findings", "impression", "expected"), [
    ("EXAM: 3D SCREENING MAMMOGRAM BILATERAL\nNo suspicious findings.", "ASSESSMENT: Category 1 - Negative", (B, "1")),
    ("Exam: Low-dose CT chest for lung cancer screening\nNo nodules.", "Category 1", (L, "1")),
    ("TYPE OF EXAM: US THYROID\nRight nodule 1.6 cm.", "Category: 4", (T, "TR4")),
    ("Study: MRI prostate multiparametric\nLesion left PZ.", "Assessment category 3", (P, "3")),
    ("EXAMINATION: MAMMO DIGITAL DIAGNOSTIC LEFT W/ CAD\nMass.", "Final assessment: 4B", (B, "4B")),
    ("EXAM: MR PELVIS W/WO (OVARIES)\nLesion.", "O-RADS MRI score: 4", (OR, "4")),
    ("EXAM: CT NECK SOFT TISSUE W CONTRAST\nPost treatment changes.", "Category 2", (N, "2")),
    ("EXAM: MAMMO DIAGNOSTIC LEFT\nMass.", "Category 4 \u2013 suspicious (4\u2011A)", (B, "4A")),
])
def test_text_only_report(findings: str, impression: str, expected: tuple[str, str]) -> None:
    assert _rads(RadiologyReport(report_id="r8", findings=findings, impression=impression)) == expected


# ---- categories no system table defines keep the report's words with the new spellings ---------------------------

@pytest.mark.parametrize(("procedure", "impression", "label"), [
    (LD, "Lung\u2011RADS 5.", "Lung-RADS 5"),
    (UST, "TI\u2010RADS TR6", "TI-RADS TR6"),
    (MRL, "LR\u2013TR Nonprogressing", "LR-TR Nonprogressing"),
    (MRL, "LI-RADS (v2024) category LR-TR Nonprogressing", "LR-TR Nonprogressing"),
    (MG, "BIRADS7", "BI-RADS 7"),
])
def test_unlisted_category_with_new_spellings(procedure: str, impression: str, label: str) -> None:
    got = ENGINE.rads(_report(impression, findings="See impression.", procedure=procedure))
    assert got is not None and got.value.category is None  # type: ignore[union-attr]
    assert got.value.label == label  # type: ignore[union-attr]


def test_hedged_unlisted_category_is_no_statement() -> None:
    got = ENGINE.rads(_report("Possible BI-RADS 7. BI-RADS 4A.", findings="See impression.", procedure=MG))
    assert got is not None and got.value.category == "4A" and not got.note  # type: ignore[union-attr]


@pytest.mark.parametrize(("impression", "category"), [
    ("CAD-RADS 4 \u2013 severe stenosis (4\u2011A)", "4A"),
    ("Category 4 (4B) - left main 55%", "4B"),
])
def test_cad_rads_undivided_four_refined_by_its_bracket(impression: str, category: str) -> None:
    assert _rads(_report(impression, findings="See impression.", procedure=CC)) == (C, category)
