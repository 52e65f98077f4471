"""The planner, round 7: negation read by ConText, liver ultrasound, and more unseen studies.

Each study is written the way a RIS, an interface engine or a radiologist sends it: RIS procedure
spellings, a CPT code with no text, reports whose body alone names the exam (one or several),
screening and diagnostic work, post-treatment imaging, negated or requested indications ("no
history of cancer", "rule out PE"), children, outside studies read a second time. The expected
plan follows the standards: a RADS system only where its categories (the task's labels) apply to
that exam and patient, CheXpert labels only for chest radiographs, N and M staging for staging
studies of a current cancer, temporal comparison only when this report is compared with another.

Decisions pinned here (see the comments in models/rules/applicability.py):
- LI-RADS is the CT/MRI algorithm (labels LR-1..5, M, TIV, TR). A liver ultrasound is graded with
  US LI-RADS (US-1/2/3, surveillance), which is not among the labels: no LI-RADS task, even when
  the report names "US LI-RADS". Contrast-enhanced US is not in the spec's tables either, so a
  CEUS report gets LI-RADS only when it states an LR category itself.
- An implant-only breast MRI keeps BI-RADS: the BI-RADS MRI atlas has an implant section and
  implant findings are assessed with its categories (a rupture is a benign finding).
"""

from __future__ import annotations

import pytest
from planner_studies import Study, check_plan

from models.rules.clinical_nlp import span_modifiers
from models.types import RadiologyReport, TaskName
from plugin.planner import plan_report, rads_system_for

STUDIES: list[Study] = [
    # ---- liver: LI-RADS CT/MRI only; ultrasound surveillance has its own US categories
    Study("us-liver-cirrhosis-surv", "US", "US ABDOMEN LIMITED LIVER",
          "Indication: HCC surveillance, alcoholic cirrhosis.\nLiver: coarsened echotexture, nodular contour. No "
          "focal observation. Main portal vein patent with hepatopetal flow.", "No focal liver observation."),
    Study("us-liver-us-lirads-stated", "US", "US LIVER",
          "Hepatitis C cirrhosis. 8 mm hypoechoic observation in segment 6, not seen before.",
          "US LI-RADS category: US-2 Subthreshold. Visualization score: A. Repeat ultrasound in 3 months."),
    Study("us-ruq-us3", "US", "US RUQ",
          "Chronic hepatitis B. 1.6 cm hypoechoic observation in segment 4. Gallbladder unremarkable. CBD 4 mm.",
          "LI-RADS US-3 Positive. Recommend multiphase contrast-enhanced MRI."),
    Study("us-liver-ceus-no-category", "US", "US LIVER W CONTRAST (CEUS)",
          "Cirrhosis. 2.1 cm observation in segment 7 with arterial phase hyperenhancement and late mild washout.",
          "Observation as described; discuss at the liver tumor board."),
    Study("us-liver-ceus-stated", "US", "CEUS LIVER",
          "Cirrhosis. 2.4 cm observation in segment 8 with nonrim APHE and late mild washout after 60 seconds.",
          "CEUS LR-5.", "LI-RADS"),
    Study("us-liver-doppler-tips", "US", "US DOPPLER LIVER TIPS",
          "Cirrhosis status post TIPS. Shunt velocities 110-150 cm/s, patent. Small ascites.", "Patent TIPS."),
    Study("us-abd-cpt-cirrhosis", "US", None,
          "Cirrhotic liver. No focal observation. Spleen 14 cm. Small volume ascites.", "Cirrhosis, no observation.",
          code="76705"),
    Study("mr-liver-eovist", "MR", "MRI LIVER W WO CONTRAST EOVIST",
          "NASH cirrhosis. 1.8 cm observation in segment 5 with nonrim APHE, nonperipheral washout and capsule.",
          "Segment 5 observation.", "LI-RADS"),
    Study("ct-liver-post-tace", "CT", "CT ABD TRIPHASIC LIVER",
          "HCC in segment 8 treated with TACE 3 months ago. Dense lipiodol; no nodular arterial enhancement.",
          "Treated lesion without viable tumor.", "LI-RADS"),
    Study("mr-liver-no-risk", "MR", "MRI ABDOMEN W WO CONTRAST",
          "Indication: liver lesion on CT. No history of cirrhosis or viral hepatitis. 3 cm segment 2 lesion with a "
          "central scar, isointense on the hepatobiliary phase.", "Likely focal nodular hyperplasia."),
    Study("mr-liver-rule-out-hcc", "MR", "MRI LIVER W WO CONTRAST",
          "Indication: rule out HCC, elevated AFP. Normal liver morphology. 1 cm simple cyst in segment 3.",
          "No suspicious liver lesion."),
    Study("text-only-mr-liver", None, None,
          "EXAM: MRI ABDOMEN WITH AND WITHOUT CONTRAST (LIVER PROTOCOL)\nHistory: hepatitis C cirrhosis.\n2.2 cm "
          "observation in segment 6 with APHE and washout.", "Segment 6 observation.", "LI-RADS"),
    Study("mr-mrcp-cirrhosis", "MR", "MRCP WO CONTRAST",
          "Cirrhosis. No biliary dilatation. Small gallstones.", "Cholelithiasis, no choledocholithiasis."),

    # ---- breast: BI-RADS on mammography, breast US and breast MRI
    Study("mg-scrn-no-history", "MG", "MAMMO SCREENING BILATERAL 3D",
          "History: annual screening. No personal or family history of breast cancer.\nScattered fibroglandular "
          "density. No suspicious mass or calcification.", "Negative.", "BI-RADS"),
    Study("mg-dx-callback", "MG", "MAMMO DIAG LT W TOMO",
          "Callback for a left upper outer asymmetry. Spot compression: the asymmetry disperses.",
          "Summation artifact.", "BI-RADS"),
    Study("mg-hcpcs-only", None, None, "Bilateral CC and MLO views. Heterogeneously dense. No suspicious finding.",
          "Negative.", "BI-RADS", code="G0202"),
    Study("us-breast-cpt-only", "US", None,
          "Right breast 9 o'clock, 4 cm from the nipple: 6 mm oval circumscribed hypoechoic mass.",
          "Probably benign mass.", "BI-RADS", code="76641"),
    Study("mr-breast-implant-rupture-protocol", "MR", "MRI BREAST WO CONTRAST IMPLANT RUPTURE PROTOCOL",
          "Indication: silicone implant integrity. Bilateral subpectoral silicone implants. Radial folds only. No "
          "intracapsular or extracapsular rupture.", "Intact implants.", "BI-RADS"),
    Study("us-breast-implant", "US", "US BREAST BILATERAL IMPLANT EVALUATION",
          "Saline implants. No peri-implant fluid. No suspicious mass in the breast tissue.", "Intact implants.",
          "BI-RADS"),
    Study("mr-breast-neoadjuvant", "MR", "MRI BREAST BILAT W WO CONTRAST",
          "Known left breast invasive ductal carcinoma after neoadjuvant chemotherapy; response assessment. The "
          "enhancing mass decreased from 3.1 to 1.2 cm.", "Partial response.", "BI-RADS", temporal=True),
    Study("mg-male", "MG", "MAMMO DX BILATERAL MALE",
          "Left breast enlargement. Flame-shaped subareolar density consistent with gynecomastia.", "Gynecomastia.",
          "BI-RADS"),
    Study("mg-outside-second-read", None, "OUTSIDE MAMMOGRAM SECOND OPINION",
          "Second opinion interpretation of an outside screening mammogram dated 2026-09-02. Extremely dense "
          "breasts. No suspicious finding.", "Negative.", "BI-RADS"),
    Study("mg-post-lumpectomy", "MG", "MAMMO DIAG BILAT",
          "Status post right lumpectomy and radiation for breast cancer in 2022. Post-surgical architectural "
          "distortion at the lumpectomy site.", "Expected post-treatment changes.", "BI-RADS"),
    Study("text-only-mg-and-us", None, None,
          "EXAM: MAMMO SCREENING BILATERAL; US BREAST BILATERAL SCREENING\nExtremely dense breasts. Whole-breast "
          "ultrasound: no suspicious mass.", "Negative.", "BI-RADS"),
    Study("cap-breast-staging", "CT", "CT CHEST ABD PELVIS W CONTRAST",
          "Newly diagnosed left breast cancer, staging. No axillary or internal mammary adenopathy. No liver "
          "lesion.", "No distant metastasis.", staging=True),
    Study("cxr-breast-history", "DX", "XR CHEST 2V",
          "History of breast cancer s/p left mastectomy. Lungs clear. No effusion.", "No acute disease.",
          chexpert=True),

    # ---- lung: Lung-RADS only for lung cancer screening CT
    Study("ldct-hcpcs-only", "CT", None, "Current smoker, 35 pack-years. 5 mm solid nodule in the LUL.",
          "Benign appearance.", "Lung-RADS", code="G0297"),
    Study("ldct-ris-spelling", "CT", "CT LOW DOSE LUNG SCREEN",
          "Annual screening. 4 mm perifissural nodule RML.", "Negative screen.", "Lung-RADS"),
    Study("ldct-no-smoking", "CT", "CT CHEST LOW DOSE WO",
          "Indication: follow-up of a 6 mm nodule. No smoking history.\nThe RLL nodule is unchanged.",
          "Stable nodule.", temporal=True),
    Study("cta-rule-out-pe", "CT", "CTA CHEST PE PROTOCOL",
          "Indication: rule out PE. No pulmonary embolism. Lungs clear.", "No PE."),
    Study("ct-chest-lung-staging", "CT", "CT CHEST W CONTRAST",
          "Biopsy-proven RUL adenocarcinoma, staging. 3.4 cm RUL mass; enlarged right hilar node.",
          "Lung cancer with hilar adenopathy.", staging=True),
    Study("cxr-rule-out-pneumonia", "CR", "XR CHEST 1V PORTABLE",
          "Indication: fever, r/o pneumonia. Lungs clear. No effusion.", "No pneumonia.", chexpert=True),
    Study("cxr-peds", "DX", "XR CHEST 2 VIEWS PEDIATRIC",
          "3-year-old with cough. Peribronchial thickening. No focal consolidation.", "Viral airway disease.",
          chexpert=True),
    Study("text-only-ldct", None, None,
          "EXAM: CT CHEST LUNG SCREENING LOW DOSE\nFormer smoker, quit 2020, 40 pack-years.\nNo nodules.",
          "Negative screen.", "Lung-RADS"),
    Study("ct-chest-may-benefit-screening", "CT", "CT CHEST WO CONTRAST",
          "Indication: dyspnea. Emphysema. No nodules. Patient may benefit from lung cancer screening.",
          "Emphysema."),

    # ---- thyroid: TI-RADS grades a thyroid nodule on ultrasound
    Study("us-neck-cpt-thyroid-nodule", "US", None,
          "Thyroid: 1.8 cm solid hypoechoic nodule in the left lobe with punctate echogenic foci.",
          "Suspicious thyroid nodule.", "TI-RADS", code="76536"),
    Study("us-thyroid-without-nodules", "US", "US THYROID",
          "Thyroid gland normal in size without nodules. Normal vascularity.", "Normal thyroid."),
    Study("us-thyroid-nodules-not-seen", "US", "US THYROID",
          "Thyroid gland heterogeneous with increased vascularity; discrete nodules are not seen.",
          "Thyroiditis. No nodules."),
    Study("us-thyroid-peds", "US", "US THYROID PEDS",
          "12-year-old with a palpable neck lump. 1.4 cm solid isoechoic nodule in the left lobe.", "Thyroid nodule.",
          "TI-RADS"),
    Study("us-thyroid-hemithyroidectomy", "US", "US THYROID",
          "Status post right hemithyroidectomy. Left lobe: 1.0 cm spongiform nodule.", "Left nodule.", "TI-RADS"),
    Study("us-neck-total-thyroidectomy", "US", "US NECK",
          "Papillary thyroid cancer s/p total thyroidectomy. Thyroid bed without nodules. No suspicious nodes.",
          "No recurrence."),
    Study("us-thyroid-multinodular", "US", "US THYROID W DOPPLER",
          "Enlarged multinodular gland. Dominant 2.6 cm mixed cystic and solid nodule in the right lobe.",
          "Multinodular goiter.", "TI-RADS"),
    Study("us-thyroid-evaluate-for-nodule", "US", "US THYROID",
          "Indication: evaluate for thyroid nodule. Normal gland. No nodules.", "Normal thyroid ultrasound."),
    Study("ct-neck-thyroid-nodule", "CT", "CT NECK W CONTRAST",
          "Incidental 2 cm left thyroid nodule. No cervical adenopathy.", "Thyroid nodule; recommend ultrasound."),

    # ---- prostate: PI-RADS on MRI of an untreated gland
    Study("mr-prostate-wo-w", "MR", "MRI PROSTATE WO W CONTRAST",
          "PSA 6.1. 1.2 cm T2 hypointense lesion in the left peripheral zone with marked restricted diffusion.",
          "Suspicious lesion.", "PI-RADS"),
    Study("mr-prostate-no-treatment", "MR", "MRI PROSTATE W WO CONTRAST",
          "Elevated PSA 8.2. No history of prostatectomy or radiation therapy. No focal lesion.", "Negative.",
          "PI-RADS"),
    Study("mr-prostate-post-hifu", "MR", "MRI PROSTATE W WO CONTRAST",
          "Prostate cancer status post HIFU ablation 2023; rising PSA. Fibrotic ablation zone.",
          "Post-ablation changes."),
    Study("mr-prostate-candidate-rt", "MR", "MR PROSTATE MPMRI W WO",
          "Biopsy-proven Gleason 3+4 prostate cancer, staging; candidate for radiation therapy. 1.5 cm right PZ "
          "lesion without extraprostatic extension.", "Organ-confined disease.", "PI-RADS", staging=True),
    Study("text-only-mr-prostate", None, None,
          "EXAM: MR PROSTATE MULTIPARAMETRIC W WO\nPSA 5.9.\nTransition zone BPH nodules. No suspicious lesion.",
          "Negative.", "PI-RADS"),
    Study("us-prostate-transrectal", "US", "US PROSTATE TRANSRECTAL",
          "Prostate volume 48 mL. Hypoechoic area in the left base.", "Enlarged prostate."),
    Study("mr-pelvis-prostate-adt", "MR", "MRI PELVIS W WO CONTRAST",
          "History: prostate cancer treated with androgen deprivation therapy; rising PSA. Diffusely low T2 "
          "signal in the peripheral zone.", "Treated gland; no focal recurrence."),

    # ---- adnexa: O-RADS US or MRI when the study looks at an adnexal lesion
    Study("us-tv-cpt-only", "US", None,
          "Right ovary: 3 cm cyst with a lacy reticular internal pattern. Left ovary normal.",
          "Hemorrhagic cyst.", "O-RADS", code="76830"),
    Study("us-pelvis-postmenopausal", "US", "US PELVIS TRANSABDOMINAL AND TRANSVAGINAL",
          "Postmenopausal bleeding. Endometrium 8 mm. Ovaries normal in size without masses.", "Thickened endometrium.",
          "O-RADS"),
    Study("us-ob-anatomy", "US", "US OB >14 WKS SINGLE FETUS",
          "Single live intrauterine pregnancy at 20 weeks. Normal anatomy survey. Placenta posterior.",
          "Normal anatomy survey."),
    Study("mr-pelvis-no-adnexal-mass", "MR", "MRI PELVIS W WO CONTRAST",
          "Indication: pelvic pain. No adnexal mass. Diffuse adenomyosis.", "Adenomyosis."),
    Study("mr-pelvis-ovaries-without-cysts", "MR", "MRI PELVIS W WO CONTRAST",
          "Indication: menorrhagia. Three intramural leiomyomas, largest 4 cm. Both ovaries normal without cysts or "
          "masses.", "Fibroid uterus."),
    Study("ct-pelvis-ovarian-mass", "CT", "CT ABD PELVIS W CONTRAST",
          "8 cm complex cystic and solid left ovarian mass. Small ascites.", "Ovarian mass; recommend US or MRI."),

    # ---- head and neck: NI-RADS after treatment of a head and neck cancer
    Study("text-only-ct-neck-surv", None, None,
          "EXAM: CT NECK SOFT TISSUE WITH CONTRAST\nHistory: supraglottic SCC s/p chemoradiation, surveillance.\n"
          "Expected post-radiation changes. No discrete mass.", "No recurrence.", "NI-RADS"),
    Study("pet-hn-post-treatment", "PT", "PET/CT SKULL BASE TO MID THIGH",
          "Oral tongue SCC s/p glossectomy and neck dissection; post-treatment surveillance. No FDG-avid disease.",
          "No recurrence.", "NI-RADS"),
    Study("ct-neck-no-cancer-history", "CT", "CT NECK W CONTRAST",
          "No history of malignancy. Enlarged level II lymph node with fatty hilum, likely reactive.",
          "Reactive node."),
    Study("mr-neck-npc-surv", "MR", "MRI NECK W WO CONTRAST",
          "Nasopharyngeal carcinoma treated with IMRT in 2024. Symmetric post-radiation changes.",
          "No recurrence.", "NI-RADS"),
    Study("ct-sinus", "CT", "CT SINUS WO CONTRAST", "Mucosal thickening of the maxillary sinuses.", "Sinusitis."),

    # ---- heart: CAD-RADS on coronary CTA
    Study("text-only-ccta", None, None,
          "EXAM: CT CORONARY ANGIOGRAM W CONTRAST\nStable chest pain. 30% stenosis of the proximal LAD.",
          "Mild non-obstructive CAD.", "CAD-RADS"),
    Study("cac-cpt", "CT", "CT HEART CALCIUM SCORE", "Agatston score 0.", "No coronary calcium.", code="75571"),
    Study("ct-chest-coronary-calcium", "CT", "CT CHEST WO CONTRAST",
          "Dense coronary artery calcifications. Lungs clear.", "Coronary artery disease."),

    # ---- bladder and gallbladder
    Study("mr-bladder-mp", "MR", "MR PELVIS BLADDER MULTIPARAMETRIC",
          "3 cm sessile tumor on the posterior wall; the low-signal muscularis is interrupted.", "Bladder tumor.",
          "VI-RADS"),
    Study("us-ruq-cirrhosis-surv", "US", "US RUQ",
          "HCC surveillance in cirrhosis. Nodular liver, no focal observation. Gallbladder normal without wall "
          "thickening.", "No focal liver observation."),
    Study("us-ruq-stones", "US", "US ABDOMEN LIMITED RUQ",
          "Cholelithiasis. No gallbladder wall thickening. Negative sonographic Murphy sign.", "Cholelithiasis."),
    Study("us-ruq-rule-out-chole", "US", "US RUQ",
          "Indication: RUQ pain, rule out acute cholecystitis. Gallbladder wall thickening 5 mm with intramural "
          "cysts. Negative sonographic Murphy sign. No pericholecystic fluid.",
          "No acute cholecystitis. Adenomyomatosis.", "GB-RADS"),

    # ---- a system's organ word in a study of another kind
    Study("pet-breast-restaging", "PT", "PET/CT BREAST CANCER RESTAGING",
          "Metastatic breast cancer on letrozole. The liver metastases are smaller and less FDG-avid than on "
          "the prior PET/CT.",
          "Partial metabolic response.", staging=True, temporal=True),
    Study("ct-chest-breast-ca-staging", "CT", "CT CHEST FOR BREAST CA STAGING",
          "Newly diagnosed right breast cancer. No pulmonary nodules. No axillary adenopathy.",
          "No thoracic metastasis.", staging=True),
    Study("nm-lymphoscintigraphy-breast", "NM", "NM LYMPHOSCINTIGRAPHY BREAST",
          "Right breast cancer. One sentinel node identified in the right axilla and marked on the skin.",
          "Right axillary sentinel node."),
    Study("ct-chest-after-positive-screen", "CT", "CT CHEST W CONTRAST",
          "History: lung cancer screening LDCT showed a Lung-RADS 4B nodule; diagnostic CT requested.\n16 mm solid "
          "RUL nodule with spiculation. No adenopathy.", "Suspicious RUL nodule; recommend PET/CT."),
    Study("mr-liver-peds-biliary-atresia", "MR", "MRI LIVER W WO CONTRAST",
          "10-year-old with biliary atresia s/p Kasai and cirrhosis. 1.5 cm arterially enhancing observation in "
          "segment 6.", "Arterially enhancing nodule; likely regenerative."),
    Study("mr-liver-fontan", "MR", "MRI LIVER W WO CONTRAST",
          "Fontan-associated liver disease with cirrhosis. 1.2 cm arterially enhancing observation with washout.",
          "Hyperenhancing nodule in Fontan liver."),
    Study("mr-liver-adult-child-pugh", "MR", "MRI LIVER W WO CONTRAST",
          "62M with HCV cirrhosis, Child-Pugh A. 1.2 cm observation with nonrim APHE and washout.",
          "Segment 4 observation.", "LI-RADS"),
    Study("ot-outside-mammo", "OT", "OUTSIDE MAMMO 2ND READ",
          "Outside screening mammogram submitted for second opinion. Scattered fibroglandular density. No "
          "suspicious finding.", "Negative.", "BI-RADS"),
    Study("ct-chest-w-wo-smoker", "CT", "CT CHEST W/WO CONTRAST",
          "Former smoker, 30 pack-years. Indication: hemoptysis. 8 mm solid RLL nodule.", "Nodule; Fleischner."),

    Study("ct-neck-prior-tirads", "CT", "CT NECK W CONTRAST",
          "History: thyroid nodule, ACR TI-RADS 4 on ultrasound. 1.5 cm left thyroid nodule. No adenopathy.",
          "Known left thyroid nodule."),
    Study("text-only-us-abdomen-and-thyroid", None, None,
          "EXAM: US ABDOMEN COMPLETE; US THYROID\nLiver, gallbladder and kidneys normal.\nThyroid: 1.2 cm solid "
          "hypoechoic nodule in the right lobe.", "Right thyroid nodule.", "TI-RADS"),
    Study("mr-breast-cpt-only", "MR", None,
          "High-risk screening. Minimal background parenchymal enhancement. No suspicious enhancement.",
          "Negative.", "BI-RADS", code="77049"),

    Study("us-ruq-chole-unlikely", "US", "US RUQ",
          "Acute cholecystitis is unlikely. Gallbladder wall thickening 6 mm with intramural cysts.",
          "Adenomyomatosis.", "GB-RADS"),
    Study("us-ruq-duodenal-wall", "US", "US RUQ",
          "Gallbladder normal. Duodenal wall thickening near the hepatic flexure. Liver normal.",
          "Duodenal wall thickening; correlate with endoscopy."),
    Study("mr-pelvis-no-adnexal-mass-clause", "MR", "MRI PELVIS W WO CONTRAST",
          "Uterine fibroids. The ovaries are normal; there is no adnexal mass.", "Fibroid uterus."),

    # ---- radiographs
    Study("cxr-cpt-only", "DX", None, "Lungs clear. Heart size normal. No effusion.", "Normal chest.",
          chexpert=True, code="71046"),
    Study("cxr-outside-second-opinion", None, "OUTSIDE XRAY CHEST SECOND OPINION",
          "Outside frontal chest radiograph. Right lower lobe opacity.", "Pneumonia.", chexpert=True),
    Study("xr-ribs-chest", "DX", "XR RIBS UNILATERAL W PA CHEST LT",
          "Nondisplaced fracture of the left 7th rib. No pneumothorax.", "Rib fracture.", chexpert=True),
    Study("xr-kub-peds", "DX", "XR ABDOMEN 1V KUB PEDS",
          "Nonobstructive bowel gas pattern. The lung bases are clear.", "Normal."),
    Study("xr-knee", "DX", "XR KNEE RT 3V", "Small joint effusion. No fracture.", "Effusion."),
    Study("text-only-cxr-and-kub", None, None,
          "EXAM: XR CHEST 2V; XR ABDOMEN 2V\nLungs clear. Nonobstructive bowel gas pattern.", "Negative.",
          chexpert=True),

    # ---- staging, negated and requested indications
    Study("ct-ap-no-cancer-history", "CT", "CT ABD PELVIS W CONTRAST",
          "History: abdominal pain. No history of cancer.\nUncomplicated sigmoid diverticulitis.", "Diverticulitis."),
    Study("ct-chest-no-known-malignancy", "CT", "CT CHEST W CONTRAST",
          "History: cough. No known malignancy.\nMild bronchial wall thickening.", "Bronchitis."),
    Study("ct-ap-rule-out-malignancy", "CT", "CT ABD PELVIS W CONTRAST",
          "Indication: weight loss, rule out malignancy.\nNo mass or adenopathy.", "No malignancy identified."),
    Study("ct-chest-metastatic-workup", "CT", "CT CHEST W CONTRAST",
          "History: evaluate for metastatic disease, colon cancer.\nLungs clear. No adenopathy.",
          "No thoracic metastasis.", staging=True),
    Study("mr-brain-sclc-staging", "MR", "MRI BRAIN W WO CONTRAST",
          "Newly diagnosed small cell lung cancer, staging. No enhancing brain lesion.", "No brain metastasis.",
          staging=True),
    Study("nm-bone-prostate-staging", "NM", "NM BONE SCAN WHOLE BODY",
          "Newly diagnosed prostate cancer, Gleason 4+4, PSA 25; staging. No osseous metastasis.",
          "No bone metastasis.", staging=True),
    Study("ct-outside-pancreas", None, "OUTSIDE CT ABDOMEN PELVIS SECOND READ",
          "Second read of an outside CT. 2.8 cm pancreatic head mass suspicious for adenocarcinoma, abutting the "
          "SMV; assess resectability.", "Pancreatic head mass.", staging=True),
    Study("text-only-head-and-cspine", None, None,
          "EXAM: CT HEAD WO CONTRAST; CT CERVICAL SPINE WO CONTRAST\nFall. No intracranial hemorrhage. No cervical "
          "spine fracture.", "No acute injury."),
    Study("ct-cap-trauma", "CT", "CT CHEST ABDOMEN PELVIS W CONTRAST",
          "Motor vehicle collision. Small splenic laceration. No pneumothorax.", "Grade II splenic injury."),
    Study("us-appendix-peds", "US", "US APPENDIX RLQ PEDS",
          "9-year-old with RLQ pain. Noncompressible 8 mm appendix with hyperemia.", "Acute appendicitis."),
    Study("ct-chest-surveillance-lymphoma", "CT", "CT CHEST W CONTRAST",
          "History: Hodgkin lymphoma in remission, surveillance. No adenopathy.", "No recurrence."),

    # ---- temporal comparison
    Study("temporal-comparison-field", "CT", "CT ABD PELVIS W CONTRAST", "Simple renal cyst, 2 cm.", "Renal cyst.",
          temporal=True, comparison="CT abdomen 2025-11-02."),
    Study("temporal-none-available", "CT", "CT HEAD WO CONTRAST",
          "No prior imaging available for comparison. No acute abnormality.", "Negative."),
    Study("temporal-outside-priors", "MG", "MAMMO SCREENING BILATERAL",
          "Comparison with outside mammograms from 2023 and 2024. No significant change. No suspicious finding.",
          "Negative.", "BI-RADS", temporal=True),
]


@pytest.mark.parametrize("study", STUDIES, ids=[s.sid for s in STUDIES])
def test_unseen_study_plan(study: Study) -> None:
    check_plan(study)


def test_enough_unseen_studies() -> None:
    assert len(STUDIES) >= 80
    assert len({s.sid for s in STUDIES}) == len(STUDIES)


@pytest.mark.parametrize(
    ("sentence", "word", "negated", "asked"),
    [
        ("No morphologic features of cirrhosis.", "cirrhosis", True, False),
        ("Rule out HCC.", "HCC", False, True),
        ("Possible early cirrhosis.", "cirrhosis", False, False),
        ("Thyroid: no nodules.", "nodules", True, False),
        ("Indication: r/o pneumonia.", "pneumonia", False, True),
    ],
)
def test_span_modifiers_reads_negation_and_requests(sentence: str, word: str, negated: bool, asked: bool) -> None:
    """The applicability rules ask ConText, not a word list, whether a cue is negated or only asked about."""
    start = sentence.index(word)
    mods = span_modifiers(sentence, start, start + len(word))
    assert mods is not None
    assert any(cat == "NEGATED_EXISTENCE" for cat, _lit in mods) == negated
    assert any(lit in {"rule out", "r/o"} for _cat, lit in mods) == asked


@pytest.mark.parametrize(
    ("findings", "system"),
    [
        # The risk factor decides, and ConText reads whether the report asserts it.
        ("Cirrhosis. 2 cm observation with APHE and washout.", "LI-RADS"),
        ("No cirrhosis. 2 cm observation with APHE and washout.", None),
        ("Patient without known liver disease or cirrhosis. 2 cm lesion with APHE and washout.", None),
        ("History of HCC treated with microwave ablation. No new observation.", "LI-RADS"),
        ("Morphologic features of cirrhosis are absent. 2 cm lesion with APHE and washout.", None),
        ("Indication: evaluate for cirrhosis. Smooth liver contour. 2 cm lesion with APHE and washout.", None),
    ],
)
def test_lirads_risk_factor_is_read_with_context(findings: str, system: str | None) -> None:
    report = RadiologyReport(report_id="t", modality="MR", procedure="MRI LIVER W WO CONTRAST", findings=findings,
                             impression="See findings.")
    assert rads_system_for(report)[0] == system


@pytest.mark.parametrize("procedure", ["US LIVER", "US ABDOMEN COMPLETE", "US RUQ", "US LIVER DOPPLER", None])
def test_liver_ultrasound_in_cirrhosis_gets_no_ct_mri_lirads(procedure: str | None) -> None:
    """US LI-RADS categories (US-1/2/3) are not LI-RADS CT/MRI labels: whatever the procedure spelling."""
    report = RadiologyReport(report_id="t", modality="US", procedure=procedure,
                             findings="Cirrhosis with chronic hepatitis B. 12 mm hypoechoic observation in segment 7.",
                             impression="US-3 positive. Recommend multiphase CT or MRI.")
    system, why = rads_system_for(report)
    assert system is None, why
    assert TaskName.rads_assignment not in plan_report(report).names
