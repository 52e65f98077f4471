"""The planner, round 8: RIS spellings, cancer names and abbreviations, comparison phrasing, children.

Each study is written the way a RIS feed, an interface engine or a radiologist sends it (local codes
and abbreviations such as "CT CAP W", "MR PROSTATE MP", "PET/CT SKULL BASE TO MID THIGH", LOINC
display names, CPT codes), with the plan the standards give it: a RADS system only where its
categories apply to that exam and patient, CheXpert labels only for chest radiographs, N and M
staging for a staging study of a current cancer (whatever name or abbreviation the indication
gives it: cholangiocarcinoma, mesothelioma, NSCLC, RCC, laryngeal SCC), temporal comparison only
when this report is compared with another study (however the radiologist words it: "comparison is
made to", "redemonstrated", "interval placement", "similar to prior", "previously 1.2 cm").

Decisions pinned here:
- A cancer abbreviation in an indication (NSCLC, SCLC, RCC, HNSCC, "laryngeal SCC") names a cancer
  as a cancer word does; "cholangiocarcinoma" and "mesothelioma" are cancers although "carcinoma" is
  inside a longer word and "-oma" words are many (lipoma, hematoma are not).
- A sentence that relates a finding to an earlier study in any of the usual radiology phrasings is
  a comparison; a history of symptoms that "resolved" is not a study comparison only when the report
  says there is no prior (otherwise the wording decides, as before).
"""

from __future__ import annotations

import pytest
from planner_studies import Study, check_plan

from models.types import RadiologyReport, TaskName
from plugin.planner import compares_with_prior, plan_report

STUDIES: list[Study] = [
    # ---- breast
    Study("mg-dx-bilat-tomo-compare", "MG", "MAMMO DX BILAT TOMO",
          "Indication: palpable lump right breast 2 o'clock.\nComparison: 10/14/2025.\nHeterogeneously dense. No "
          "mass at the palpable site, marked with a BB.", "No mammographic correlate.", "BI-RADS", temporal=True),
    Study("mg-scrn-cad-first", "MG", "MG SCREENING BILAT W CAD",
          "Baseline screening. No prior mammograms available for comparison. Scattered fibroglandular tissue.",
          "Negative.", "BI-RADS"),
    Study("mg-loinc-display", None, "MG Breast Diagnostic Limited Views", "Right ML and spot compression views. "
          "The focal asymmetry persists.", "Persistent focal asymmetry; ultrasound recommended.", "BI-RADS"),
    Study("us-breast-bilat-complete", "US", "US BREAST BILAT COMPLETE",
          "Bilateral whole breast ultrasound. Left 3 o'clock 5 cm FN: 8 x 5 mm oval circumscribed anechoic "
          "structure, simple cyst.", "Benign left breast cyst.", "BI-RADS"),
    Study("mr-breast-high-risk", "MR", "MRI BREAST HIGH RISK SCREENING W WO",
          "BRCA1 carrier, annual screening. Minimal BPE. No suspicious enhancement.", "Negative.", "BI-RADS"),
    Study("mg-stated-birads-on-cr", "CR", "MAMMO SCREENING BILATERAL",
          "Fatty breasts. Stable benign-appearing calcifications compared with 2024.", "BI-RADS 2: Benign.",
          "BI-RADS", temporal=True),
    Study("ct-chest-breast-incidental", "CT", "CT CHEST WO CONTRAST",
          "Indication: cough. 9 mm left breast nodule, incompletely assessed.", "Recommend mammography."),
    Study("mr-breast-staging-word", "MR", "MR BREAST BIL W WO CON",
          "Newly diagnosed left breast cancer, preoperative staging. 3.1 cm enhancing mass with an enlarged "
          "level I axillary node.", "Known malignancy.", "BI-RADS", staging=True),
    Study("us-axilla-breast-history", "US", "US BREAST RT LTD AXILLA",
          "Right axilla: 1.2 cm lymph node with a 4 mm cortex and preserved fatty hilum.", "Benign-appearing node.",
          "BI-RADS"),

    # ---- lung screening and diagnostic chest CT
    Study("ldct-annual-compare", "CT", "CT CHEST LUNG SCREENING ANNUAL",
          "Former smoker, 35 pack-years. Comparison: LDCT 11/2025. 5 mm solid RLL nodule, unchanged.",
          "Stable nodule.", "Lung-RADS", temporal=True),
    Study("ldct-g0296-counsel", "CT", "LDCT CHEST SCREEN",
          "Current smoker. No suspicious nodule. Mild centrilobular emphysema.", "Negative.", "Lung-RADS"),
    Study("ct-chest-stated-lungrads", "CT", "CT CHEST WO CONTRAST",
          "Annual lung cancer screening in a 62-year-old former smoker. 7 mm part-solid nodule LUL.",
          "Lung-RADS 3.", "Lung-RADS"),
    Study("ct-chest-w-incidental", "CT", "CT CHEST W CONTRAST",
          "Indication: shortness of breath. 6 mm RML solid nodule. No adenopathy.",
          "Nodule: per Fleischner, optional CT at 12 months."),
    Study("hrct-ild", "CT", "CT CHEST HIGH RESOLUTION WO",
          "Indication: ILD. Subpleural reticulation with basal predominance, no honeycombing.", "Probable UIP."),
    Study("cta-pe-no-comparison", "CT", "CTA CHEST PE W CONTRAST",
          "Comparison: None.\nNo pulmonary embolism. Small bilateral effusions.", "No PE."),

    # ---- liver
    Study("mr-liver-multiphase-hbv", "MR", "MRI LIVER MULTIPHASE",
          "Chronic hepatitis B without cirrhosis. 1.4 cm observation in segment 7 with nonrim APHE and washout.",
          "Segment 7 observation.", "LI-RADS"),
    Study("ct-liver-4phase-compare", "CT", "CT LIVER 4 PHASE",
          "Alcoholic cirrhosis. Comparison: MRI 08/2026. 1.1 cm segment 3 observation previously 0.9 cm with "
          "arterial phase hyperenhancement.", "Growing observation.", "LI-RADS", temporal=True),
    Study("ct-liver-peds-hepatoblastoma", "CT", "CT ABD MULTIPHASE LIVER",
          "4-year-old with an abdominal mass, elevated AFP. 8 cm heterogeneous right hepatic lobe mass. Lungs "
          "clear at the bases.", "Right hepatic mass, likely hepatoblastoma."),
    Study("mr-liver-budd-chiari", "MR", "MRI LIVER W WO CONTRAST",
          "Budd-Chiari syndrome with cirrhotic morphology. Multiple 1 cm arterially enhancing nodules.",
          "Regenerative nodules likely."),
    Study("mr-abd-pancreas-cyst", "MR", "MRI ABDOMEN MRCP W WO",
          "Indication: pancreatic cyst follow-up. Comparison: 05/2026. 1.4 cm side-branch IPMN, unchanged.",
          "Stable side-branch IPMN.", temporal=True),

    # ---- thyroid
    Study("us-thyroid-compare", "US", "US THYROID",
          "Comparison: US thyroid 03/2025.\nRight lobe 1.6 cm solid hypoechoic nodule, previously 1.3 cm.",
          "Enlarging nodule.", "TI-RADS", temporal=True),
    Study("us-neck-ptc-surveillance", "US", "US NECK SOFT TISSUE",
          "Status post total thyroidectomy for papillary thyroid carcinoma. Thyroid bed clear. No abnormal "
          "cervical nodes.", "No evidence of recurrence."),
    Study("us-neck-thyroid-goiter-compare", "US", "US NECK THYROID",
          "Comparison: 2024.\nMultinodular goiter. Dominant 2.1 cm right lobe nodule, spongiform.",
          "Multinodular goiter.", "TI-RADS", temporal=True),
    Study("us-thyroid-diffuse-hashimoto", "US", "US THYROID",
          "Heterogeneous, hypervascular gland consistent with thyroiditis. No discrete nodule.",
          "Thyroiditis."),
    Study("us-parathyroid", "US", "US PARATHYROID",
          "Hypercalcemia. 9 mm hypoechoic nodule posterior to the left thyroid lobe, likely parathyroid adenoma.",
          "Probable left inferior parathyroid adenoma."),

    # ---- prostate
    Study("mr-prostate-mp", "MR", "MR PROSTATE MP",
          "PSA 7.2, no prior biopsy. 11 mm lesion in the left peripheral zone, marked diffusion restriction.",
          "PI-RADS 4 lesion.", "PI-RADS"),
    Study("mr-prostate-pre-biopsy-compare", "MR", "MRI PROSTATE W WO CONTRAST",
          "Active surveillance. Comparison: MRI 09/2025. Right transition zone lesion, stable in size.",
          "Stable lesion.", "PI-RADS", temporal=True),
    Study("pet-psma-recurrence", "PT", "PET/CT PSMA SKULL BASE TO MID THIGH",
          "Prostate cancer, restaging for biochemical recurrence after prostatectomy. PSA 0.6. Focal uptake in a "
          "left external iliac node.", "Nodal recurrence.", staging=True),
    Study("mr-pelvis-male-hip", "MR", "MRI PELVIS WO CONTRAST",
          "Hip pain. Bilateral femoral head edema. Prostate is enlarged.", "Early AVN."),

    # ---- adnexa
    Study("us-tv-comparison-none", "US", "US PELVIS TRANSVAGINAL",
          "Comparison: None.\nLeft ovary: 3.2 cm unilocular anechoic cyst with smooth walls.",
          "Left ovarian simple cyst.", "O-RADS"),
    Study("mr-pelvis-adnexal-mass", "MR", "MRI PELVIS W WO",
          "Indication: indeterminate adnexal mass on ultrasound. Right ovarian 4 cm multilocular cyst with an "
          "enhancing septum.", "Right adnexal lesion.", "O-RADS"),
    Study("mr-pelvis-cervical-ca", "MR", "MRI PELVIS W WO CONTRAST",
          "Indication: newly diagnosed cervical cancer. 3.5 cm cervical mass with parametrial invasion. Ovaries "
          "normal. No adnexal mass.", "Cervical cancer with parametrial invasion.", staging=True),
    Study("mr-pelvis-endometrial-staging", "MR", "MRI PELVIS FEMALE W WO",
          "Endometrial carcinoma, staging. Deep myometrial invasion. Ovaries unremarkable.",
          "Endometrial cancer, deep myometrial invasion.", staging=True),

    # ---- head and neck
    Study("ct-neck-post-crt-compare", "CT", "CT NECK W CONTRAST",
          "Oropharyngeal SCC status post chemoradiation 2025. Comparison: CT neck 06/2026. No enhancing mass at "
          "the primary site; post-treatment edema decreased.", "No evidence of recurrence.", "NI-RADS",
          temporal=True),
    Study("ct-neck-new-laryngeal-scc", "CT", "CT SOFT TISSUE NECK W CONTRAST",
          "Indication: laryngeal SCC. Transglottic mass with left level III adenopathy.",
          "Transglottic tumor with nodal disease.", staging=True),
    Study("pet-nsclc-initial", "PT", "PET/CT SKULL BASE TO MID THIGH",
          "Indication: NSCLC. 3 cm hypermetabolic RUL mass; FDG-avid right hilar and subcarinal nodes.",
          "Hypermetabolic RUL primary with nodal disease.", staging=True),
    Study("ct-neck-abscess", "CT", "CT NECK W CONTRAST",
          "Sore throat, fever. 2 cm rim-enhancing right peritonsillar collection.", "Peritonsillar abscess."),

    # ---- cardiac
    Study("cta-coronary", "CT", "CTA CORONARY",
          "Atypical chest pain. Calcium score 45. Mild (25-49%) stenosis of the proximal LAD.", "Mild CAD.",
          "CAD-RADS"),
    Study("ct-cardiac-congenital", "CT", "CT CARDIAC MORPHOLOGY W CONTRAST",
          "Repaired tetralogy of Fallot. RV outflow tract patch. Branch pulmonary arteries patent.",
          "Postoperative anatomy."),
    Study("ct-cac-score", "CT", "CT CORONARY ARTERY CALCIUM SCORE",
          "Agatston score 210, LAD and RCA.", "Moderate coronary calcification."),
    Study("cta-coronary-cpt", "CT", None, "Coronary CT angiography. Left dominant. No stenosis.",
          "No coronary artery disease.", "CAD-RADS", code="75574"),

    # ---- bladder, gallbladder
    Study("mr-bladder-vi-rads", "MR", "MRI PELVIS BLADDER W WO",
          "Known bladder tumor on cystoscopy. 2.5 cm posterior wall tumor with an intact muscularis.",
          "Non-muscle-invasive appearance.", "VI-RADS",
          staging=True),
    Study("us-bladder-pvr", "US", "US BLADDER PVR",
          "Prevoid 320 mL, postvoid 110 mL. Bladder wall smooth.", "Elevated postvoid residual."),
    Study("us-gallbladder", "US", "US GALLBLADDER",
          "Incidental gallbladder polyp on CT. 6 mm nonmobile echogenic polyp, no vascular stalk.",
          "Gallbladder polyp."),  # GB-RADS grades wall thickening, not polyps (round 8b)
    Study("us-ruq-wall-thickening", "US", "US ABDOMEN LIMITED RUQ",
          "Chronic RUQ discomfort. Diffuse gallbladder wall thickening to 5 mm with intramural echogenic foci. "
          "Sonographic Murphy sign negative.", "Probable adenomyomatosis.", "GB-RADS"),
    Study("us-ruq-post-chole", "US", "US RUQ",
          "Gallbladder surgically absent. CBD 6 mm, normal post cholecystectomy.", "No acute findings."),

    # ---- chest radiographs
    Study("xr-chest-2v", "DX", "XR CHEST 2V", "Lungs clear. Heart size normal.", "No acute disease.",
          chexpert=True),
    Study("xr-chest-port-comparison", "CR", "XR CHEST 1V PORTABLE",
          "Comparison: 11/27/2026.\nEndotracheal tube 4 cm above the carina. Worsening left basilar opacity.",
          "Worsening left basilar opacity.", chexpert=True, temporal=True),
    Study("xr-chest-pa-lat-peds", "DX", "XR CHEST PA LAT PEDS",
          "5-year-old with fever. Right upper lobe consolidation.", "Right upper lobe pneumonia.", chexpert=True),
    Study("xr-ribs-with-chest", "DX", "XR RIBS LEFT W PA CHEST 3V",
          "Nondisplaced fracture of the left 7th rib. No pneumothorax.", "Left 7th rib fracture.", chexpert=True),
    Study("xr-kub", "DX", "XR ABDOMEN KUB",
          "Nonobstructive bowel gas pattern. Lung bases clear.", "Normal KUB."),
    Study("xr-chest-decub", "DX", "XR CHEST BILATERAL DECUBITUS",
          "Layering right pleural effusion.", "Free-flowing right effusion.", chexpert=True),
    Study("xr-loinc-code-text-only", "DX", None, "Frontal and lateral views of the chest.\nLungs clear.",
          "Normal chest.", chexpert=True, code="36643-5"),
    Study("xr-soft-tissue-neck-croup", "DX", "XR SOFT TISSUE NECK 2V",
          "2-year-old with stridor. Subglottic narrowing (steeple sign).", "Findings of croup."),
    Study("rf-esophagram", "RF", "FL ESOPHAGRAM",
          "Single contrast esophagram. Small sliding hiatal hernia. Lungs clear.", "Small hiatal hernia."),
    Study("xr-scoliosis", "DX", "XR SPINE SCOLIOSIS SURVEY 2V",
          "14-year-old. Right thoracic curve, Cobb angle 24 degrees. Lungs clear.", "Mild scoliosis."),
    Study("xr-chest-nicu", "CR", "XR CHEST 1V NICU",
          "Neonate, 2 days old. Diffuse granular opacities with air bronchograms.", "Surfactant deficiency.",
          chexpert=True),

    # ---- staging
    Study("ct-cap-w-colon", "CT", "CT CAP W",
          "Newly diagnosed sigmoid adenocarcinoma, staging. No liver lesion. No adenopathy.",
          "No metastatic disease.", staging=True),
    Study("ct-cap-cholangio", "CT", "CT CHEST ABD PELVIS W CONTRAST",
          "Indication: hilar cholangiocarcinoma.\nHilar mass with bilateral intrahepatic ductal dilatation.",
          "Hilar mass.", staging=True),
    Study("ct-cap-nsclc", "CT", "CT CAP W CONTRAST",
          "Indication: NSCLC, pre-treatment.\n4 cm LLL mass. Left adrenal nodule, indeterminate.",
          "LLL primary; indeterminate adrenal nodule.", staging=True),
    Study("mr-brain-melanoma", "MR", "MRI BRAIN W WO CONTRAST",
          "Indication: metastatic melanoma, evaluate for brain metastases.\nNo enhancing lesion.",
          "No intracranial metastasis.", staging=True),
    Study("ct-ap-pain-no-cancer", "CT", "CT ABD PELVIS W CONTRAST",
          "Indication: abdominal pain. No history of malignancy.\nUncomplicated sigmoid diverticulitis.",
          "Diverticulitis."),
    Study("ct-ap-resectability", "CT", "CT PANCREAS PROTOCOL W WO",
          "Pancreatic head mass, evaluate for resectability. 2.8 cm hypoenhancing mass abutting the SMV.",
          "Borderline resectable.", staging=True),
    Study("ct-chest-mesothelioma", "CT", "CT CHEST W CONTRAST",
          "Indication: mesothelioma.\nCircumferential nodular right pleural thickening.", "Pleural disease.",
          staging=True),
    Study("ct-ap-rcc", "CT", "CT ABD W WO CONTRAST RENAL MASS",
          "Indication: RCC, pre-nephrectomy.\n5 cm enhancing left renal mass. Renal vein patent.",
          "Left renal mass.", staging=True),
    Study("ct-chest-lung-ca-surveillance", "CT", "CT CHEST WO CONTRAST",
          "History of treated lung cancer, surveillance. Post-radiation fibrosis, unchanged.",
          "No recurrence.", temporal=True),
    Study("ct-abd-lipoma", "CT", "CT ABD PELVIS W CONTRAST",
          "Indication: known lipoma, abdominal wall. 4 cm fat-density lesion.", "Lipoma."),
    Study("ct-head-hematoma", "CT", "CT HEAD WO",
          "Indication: subdural hematoma. 8 mm left convexity subdural.", "Acute subdural hematoma."),
    Study("ct-sclc-staging", "CT", "CT CHEST ABDOMEN W CONTRAST",
          "Indication: SCLC.\nBulky mediastinal adenopathy. Multiple liver lesions.", "Extensive-stage disease.",
          staging=True),
    Study("mg-known-cancer-dx", "MG", "MAMMO DX BILAT",
          "Indication: newly diagnosed right breast IDC. Right 11 o'clock biopsy clip within a 2 cm mass.",
          "Known malignancy.", "BI-RADS"),

    # ---- temporal comparison phrasings
    Study("temporal-comparison-is-made", "DX", "XR CHEST 1V",
          "Comparison is made to the radiograph of 11/28/2026. Interval placement of a right IJ catheter.",
          "Right IJ catheter tip at the cavoatrial junction.", chexpert=True, temporal=True),
    Study("temporal-redemonstrated", "CT", "CT HEAD WO",
          "Redemonstrated chronic left MCA territory infarct. No acute hemorrhage.", "No acute findings.",
          temporal=True),
    Study("temporal-similar-to-prior", "CT", "CT ABD PELVIS W CONTRAST",
          "Hepatic cysts, similar to prior. No new lesion.", "No acute process.", temporal=True),
    Study("temporal-previously-measured", "CT", "CT ABD PELVIS WO",
          "Right renal stone measures 8 mm, previously 6 mm.", "Enlarging right renal stone.", temporal=True),
    Study("temporal-since-date", "US", "US RENAL",
          "Mild right hydronephrosis, decreased since 10/2026.", "Improving hydronephrosis.", temporal=True),
    Study("temporal-no-previous-exams", "US", "US RENAL",
          "No previous exams. Kidneys normal in size without hydronephrosis.", "Normal renal ultrasound."),
    Study("temporal-comparison-field-date", "CT", "CT HEAD WO", "No acute intracranial abnormality.",
          "Negative.", temporal=True, comparison="CT HEAD 11/20/2026"),
    Study("temporal-comparison-field-none", "CT", "CT HEAD WO", "No acute intracranial abnormality.",
          "Negative.", comparison="None available."),
    Study("temporal-interval-progression", "CT", "CT CHEST W CONTRAST",
          "Interval progression of the right lower lobe mass, now 4.2 cm.", "Progressive disease.",
          temporal=True),
    Study("temporal-outside-compare", "MR", "MRI BRAIN W WO CONTRAST",
          "Comparison: Outside MRI 2025, images reviewed.\nStable 6 mm left parafalcine meningioma.",
          "Stable meningioma.", temporal=True),
    Study("temporal-none-new-finding", "CT", "CT ABD PELVIS W CONTRAST",
          "Comparison: None.\n3 cm right adrenal nodule.", "Indeterminate adrenal nodule."),
    Study("temporal-prior-text-supplied", "US", "US RENAL", "Kidneys normal.", "Normal.", temporal=True,
          prior="US RENAL 2025: mild left hydronephrosis."),
    Study("temporal-hemodynamically-stable", "CT", "CT ABD PELVIS W CONTRAST",
          "Trauma, hemodynamically stable. No solid organ injury.", "No traumatic injury."),
    Study("temporal-lines-removed", "CR", "XR CHEST PORTABLE AP",
          "Interval removal of the endotracheal tube. Lungs clear.", "Extubated, clear lungs.", chexpert=True,
          temporal=True),
    Study("temporal-comparison-no-colon", "CT", "CT NECK SOFT TISSUE W",
          "History: tonsil SCC s/p TORS and radiation. Comparison CT neck 3 months ago. No enhancing mass.",
          "NI-RADS 1.", "NI-RADS", temporal=True),
    Study("temporal-comparison-date-no-colon", "CT", "CT HEAD WO",
          "COMPARISON 11/02/2026.\nNo acute intracranial abnormality.", "Negative.", temporal=True),
    Study("temporal-comparison-studies-none", "US", "US RENAL BILATERAL",
          "Comparison studies: none.\nKidneys normal in size.", "Normal."),
    Study("temporal-comparison-study-unavailable", "DX", "XR CHEST 2V",
          "Comparison study not available. Lungs clear.", "No acute disease.", chexpert=True),
    Study("xr-chest-peds-compare", "DX", "XR CHEST 2V",
          "3-year-old with cough. Comparison: 10/10/2026. Hyperinflation and peribronchial thickening.",
          "Viral pattern.", chexpert=True, temporal=True),
    Study("pet-dlbcl-initial", "PT", "PET/CT SKULL BASE TO MID THIGH",
          "Indication: newly diagnosed DLBCL, initial staging. FDG-avid nodes above and below the diaphragm.",
          "Stage III.", staging=True),
    Study("nm-bone-scan-prostate", "NM", "NM BONE SCAN WHOLE BODY",
          "Indication: prostate cancer staging.\nNo osseous metastases.", "No metastases.", staging=True),
    Study("mr-rectum-restaging", "MR", "MRI PELVIS RECTUM W WO",
          "Indication: rectal adenocarcinoma, restaging after total neoadjuvant therapy.", "Near complete response.",
          staging=True),
    Study("ct-chest-esophageal-restaging", "CT", "CT CHEST W CONTRAST",
          "Indication: esophageal cancer restaging after neoadjuvant chemoradiation.", "Partial response.",
          staging=True),
    Study("mr-breast-post-lumpectomy-compare", "MR", "MRI BREAST BILAT W WO",
          "Comparison: MRI 2025. Status post right lumpectomy. No suspicious enhancement.", "BI-RADS 2.", "BI-RADS",
          temporal=True),
    Study("us-abd-acute-chole", "US", "US ABDOMEN COMPLETE",
          "Gallbladder wall thickened 6 mm with pericholecystic fluid and gallstones; positive sonographic Murphy "
          "sign.", "Acute cholecystitis."),
    Study("cta-coronary-zero", "CT", "CTA CORONARY W CONTRAST",
          "Comparison: none. Calcium score 0. No plaque or stenosis.", "CAD-RADS 0.", "CAD-RADS"),
    Study("temporal-again-visualized", "MR", "MRI LUMBAR SPINE WO",
          "L4-5 disc protrusion again visualized.", "Stable L4-5 protrusion.", temporal=True),
]


@pytest.mark.parametrize("study", STUDIES, ids=[s.sid for s in STUDIES])
def test_round8_study_plan(study: Study) -> None:
    check_plan(study)


def test_enough_round8_studies() -> None:
    assert len(STUDIES) >= 80
    assert len({s.sid for s in STUDIES}) == len(STUDIES)


@pytest.mark.parametrize(
    "sentence",
    [
        "Comparison is made to the radiograph of yesterday.",
        "Comparison was made with the CT of 01/02/2026.",
        "Redemonstration of a 4 mm RUL nodule.",
        "Similar appearance of the left effusion.",
        "The effusion is smaller than on the prior.",
        "Interval placement of a left chest tube.",
        "Renal cyst measures 2.1 cm, previously 1.9 cm.",
        "Comparison CT abdomen 3 months ago.",
        "COMPARISON 11/02/2026.",
    ],
)
def test_comparison_phrasings(sentence: str) -> None:
    report = RadiologyReport(report_id="t", modality="CT", procedure="CT ABD", findings=sentence, impression="x")
    assert compares_with_prior(report)


@pytest.mark.parametrize(
    "sentence",
    [
        "No prior studies are available for comparison.",
        "Comparison: none.",
        "Patient is hemodynamically stable.",
        "Heart size is normal.",
        "Comparison studies: none.",
        "Comparison study not available.",
        "Comparison views of the left hip were obtained.",
    ],
)
def test_no_comparison_phrasings(sentence: str) -> None:
    report = RadiologyReport(report_id="t", modality="CT", procedure="CT ABD", findings=sentence, impression="x")
    assert not compares_with_prior(report)


@pytest.mark.parametrize(
    ("indication", "staging"),
    [
        ("Indication: NSCLC.", True),
        ("Indication: hilar cholangiocarcinoma.", True),
        ("Indication: malignant pleural mesothelioma.", True),
        ("Indication: RCC.", True),
        ("Indication: no history of NSCLC.", False),
        ("Indication: rule out RCC.", False),
        ("Indication: lipoma.", False),
        ("Indication: hematoma.", False),
        ("History: NSCLC status post lobectomy, surveillance.", False),
    ],
)
def test_cancer_names_and_abbreviations(indication: str, staging: bool) -> None:
    report = RadiologyReport(report_id="t", modality="CT", procedure="CT CHEST ABDOMEN W CONTRAST",
                             findings=indication + "\nNo acute finding.", impression="See findings.")
    names = plan_report(report).names
    assert (TaskName.n_staging in names) == staging
    assert (TaskName.m_staging in names) == staging
