"""The planner on studies it has never seen: RIS spellings, codes, bare texts and traps.

Each study is written the way a RIS or an interface engine sends it (abbreviated procedure
names, a CPT code in OBR-4 with no text, a DICOM modality or none, a report whose body alone
names the exam). The expected plan follows the standards: a RADS system only where the ACR
(or its authors) define one for that exam and patient, CheXpert labels only for chest
radiographs, N and M staging for staging and restaging studies, temporal comparison only
when this report is compared with an earlier one.
"""

from __future__ import annotations

import pytest
from planner_studies import Study, check_plan

from adapters.cds.regions import body_regions
from models.types import RadiologyReport
from plugin.planner import compares_with_prior

STUDIES: list[Study] = [
    # ---- breast: BI-RADS on mammography, breast US and breast MRI, whatever the spelling
    Study("mg-scrn-tomo", "MG", "MAMMO SCRN BIL W TOMO",
          "Breast composition: scattered areas of fibroglandular density. No suspicious mass, calcification or "
          "distortion.", "Negative screening mammogram.", "BI-RADS"),
    Study("mg-dx-uni", "MG", "MAMMO DX UNI LT W CAD",
          "Palpable lump left breast 2 o'clock. Oval circumscribed mass 8 mm.", "Probably benign mass.", "BI-RADS"),
    Study("mg-no-modality", None, "MAMMOGRAM SCREENING BILATERAL DIGITAL",
          "Breasts are almost entirely fatty. No suspicious findings.", "Negative.", "BI-RADS"),
    Study("mg-loinc-display", None, "MG Breast Screening",
          "Heterogeneously dense breasts. No suspicious mass.", "Negative.", "BI-RADS", code="24606-6"),
    Study("mg-cpt-only", None, None, "Bilateral CC and MLO views. Scattered fibroglandular density. No mass.",
          "Negative.", "BI-RADS", code="77067"),
    Study("us-breast-ltd", "US", "US BREAST LT LTD",
          "Targeted US at 10 o'clock: 7 mm oval circumscribed anechoic cyst.", "Simple cyst.", "BI-RADS"),
    Study("us-breast-cpt", "US", None, "Left breast 3 o'clock: 9 mm oval parallel hypoechoic mass.",
          "Probably benign.", "BI-RADS", code="76642"),
    Study("mr-breast-bil", "MR", "MRI BREAST BIL W WO CONT",
          "High-risk screening, BRCA1 carrier. Minimal background parenchymal enhancement. No suspicious "
          "enhancement.", "Negative.", "BI-RADS"),
    Study("mr-breast-implant", "MR", "MR BREAST IMPLANT WO CONTRAST",
          "Evaluation of silicone implant integrity. Intracapsular rupture of the left implant (linguine sign). "
          "No extracapsular silicone.", "Left intracapsular implant rupture.", "BI-RADS"),
    Study("mr-breast-cancer", "MR", "MRI BREAST BILATERAL W WO CONTRAST",
          "Biopsy-proven right breast invasive ductal carcinoma, extent of disease. 2.3 cm irregular mass at "
          "10 o'clock. No contralateral finding.", "Known right breast cancer.", "BI-RADS"),
    # A breast implant or a breast word in a CT of another region is no breast study.
    Study("ct-abd-implant", "CT", "CT ABD PELVIS W CONTRAST",
          "Bilateral breast implants are partially imaged. Acute uncomplicated appendicitis.", "Appendicitis."),
    Study("ct-chest-breast-nodule", "CT", "CT CHEST W CONTRAST",
          "Incidental 1 cm nodule in the left breast; recommend diagnostic mammogram and breast ultrasound. "
          "Lungs clear.", "Left breast nodule."),
    Study("text-only-mammo", None, None,
          "EXAM: Screening mammogram bilateral with tomosynthesis.\nThe breasts are heterogeneously dense. No "
          "suspicious mass.", "Negative.", "BI-RADS"),
    Study("text-ct-abd-implant", None, None,
          "EXAM: CT abdomen and pelvis with IV contrast.\nBreast implants noted. Mammography is recommended per "
          "routine screening. No acute abnormality.", "No acute abnormality."),

    # ---- lung: Lung-RADS only on screening low-dose CT (ACR Lung-RADS v2022)
    Study("ldct-lcs", "CT", "CT CHEST LDCT LCS", "6 mm solid nodule in the RUL.", "Probably benign nodule.",
          "Lung-RADS"),
    Study("ldct-words", "CT", "CT LUNG CANCER SCREENING LOW DOSE",
          "30 pack-year smoker. No nodules.", "Negative screening.", "Lung-RADS"),
    Study("ldct-cpt", "CT", None, "Annual screening, current smoker. 4 mm solid nodule LLL.", "Benign appearance.",
          "Lung-RADS", code="71271"),
    Study("ldct-followup", "CT", "CT CHEST LOW DOSE WO CONTRAST",
          "3-month follow-up LDCT from lung screening program. 30 pack-years. The RUL nodule is unchanged.",
          "Stable nodule.", "Lung-RADS", temporal=True),
    Study("lowdose-ild", "CT", "CT CHEST LOW DOSE WO CONTRAST",
          "Indication: interstitial lung disease follow-up. Subpleural reticulation, unchanged.",
          "Stable fibrotic ILD.", temporal=True),
    Study("diag-ct-nodule", "CT", "CT CHEST WO CONTRAST",
          "Indication: chronic cough. 8 mm solid nodule in the RUL. No adenopathy.",
          "8 mm nodule; Fleischner follow-up CT in 6-12 months."),
    Study("diag-ct-legend", "CT", "CT CHEST W CONTRAST",
          "Indication: dyspnea. 5 mm solid nodule LLL.\nLung-RADS categories: 1 negative, 2 benign appearance, "
          "3 probably benign, 4A suspicious, 4B very suspicious.", "Small nodule."),
    Study("diag-ct-not-applicable", "CT", "CT CHEST WO CONTRAST",
          "Indication: pneumonia follow-up. 7 mm RML nodule.",
          "Lung-RADS does not apply to this diagnostic study; follow Fleischner guidelines."),
    Study("cta-pe", "CT", "CTA CHEST PE PROTOCOL",
          "Hemodynamically stable patient with dyspnea. No pulmonary embolism. Moderate coronary artery "
          "calcifications.", "No PE."),
    Study("text-only-ldct", None, None,
          "Low-dose CT chest for lung cancer screening. 35 pack-year former smoker.\n5 mm solid nodule RLL.",
          "Benign appearance.", "Lung-RADS"),

    # ---- liver: LI-RADS on multiphase CT/MRI of patients at risk of HCC only
    Study("mr-liver-cirrhosis", "MR", "MRI LIVER MULTIPHASE",
          "Cirrhosis. 2.1 cm arterial phase hyperenhancing observation in segment 8 with washout.",
          "Observation highly suspicious for HCC.", "LI-RADS"),
    Study("ct-triphasic-hcc", "CT", "CT ABD W WO CONTRAST TRIPHASIC LIVER",
          "HCC surveillance, chronic hepatitis B. No observation.", "Negative.", "LI-RADS"),
    Study("mr-abd-cirrhosis-observation", "MR", "MR ABDOMEN W WO CONTRAST",
          "Alcoholic cirrhosis. 1.6 cm observation in segment 7 with nonrim arterial phase hyperenhancement "
          "and nonperipheral washout.", "Observation in segment 7.", "LI-RADS"),
    Study("mr-liver-no-cirrhosis", "MR", "MRI ABDOMEN W WO LIVER PROTOCOL",
          "Indication: incidental liver lesion on ultrasound. No morphologic features of cirrhosis. 2 cm "
          "segment 6 lesion with peripheral nodular discontinuous enhancement.", "Hemangioma."),
    Study("ct-abd-cirrhosis-appy", "CT", "CT ABD PELVIS W CONTRAST",
          "Cirrhotic liver morphology with splenomegaly. Acute appendicitis.", "Appendicitis."),
    Study("ct-chest-cirrhosis", "CT", "CT CHEST W CONTRAST",
          "Lungs clear. Partially imaged nodular cirrhotic liver.", "No acute thoracic abnormality."),

    # ---- thyroid: TI-RADS grades thyroid nodules on ultrasound
    Study("us-thyroid", "US", "US THYROID", "Right lobe 1.3 cm solid hypoechoic nodule.", "Right nodule.",
          "TI-RADS"),
    Study("us-neck-thyroid-nodule", "US", "US SOFT TISSUE HEAD NECK",
          "Left thyroid lobe: 2 cm spongiform nodule. No abnormal nodes.", "Thyroid nodule.", "TI-RADS"),
    Study("us-thyroid-no-nodule", "US", "US THYROID",
          "Diffusely heterogeneous gland with increased vascularity. No thyroid nodules.",
          "Findings compatible with thyroiditis. No nodules."),
    Study("us-thyroid-bed", "US", "US NECK THYROID BED",
          "History: papillary thyroid cancer s/p total thyroidectomy, surveillance. Thyroid bed clear. No "
          "suspicious cervical nodes.", "No evidence of recurrence."),
    Study("text-only-thyroid", None, None,
          "EXAM: Ultrasound of the thyroid.\nRight lobe: 1.1 cm isoechoic nodule with smooth margins.",
          "Thyroid nodule.", "TI-RADS"),

    # ---- prostate: PI-RADS on multiparametric MRI of a treatment-naive gland
    Study("mr-prostate-mpmri", "MR", "MR PROSTATE MPMRI W WO",
          "PSA 7.2. 1.1 cm lesion in the left peripheral zone, marked restricted diffusion.", "Suspicious lesion.",
          "PI-RADS"),
    Study("mr-pelvis-prostate", "MR", "MRI PELVIS PROSTATE W WO CONTRAST",
          "Elevated PSA, no prior biopsy. Transition zone BPH nodules.", "No suspicious lesion.", "PI-RADS"),
    Study("mr-pelvis-psa", "MR", "MRI PELVIS W WO CONTRAST",
          "Indication: elevated PSA 9.1. 1.4 cm T2 hypointense lesion in the right peripheral zone with low ADC.",
          "Suspicious peripheral zone lesion.", "PI-RADS"),
    Study("mr-prostate-staging", "MR", "MRI PROSTATE W WO CONTRAST",
          "Biopsy-proven prostate adenocarcinoma, Gleason 4+3, staging. Left peripheral zone lesion with "
          "extraprostatic extension. No pelvic adenopathy.", "Organ-confined? No: EPE.", "PI-RADS", staging=True),
    Study("mr-prostatectomy", "MR", "MRI PROSTATE W WO CONTRAST",
          "History: radical prostatectomy 2019, rising PSA 0.4. Evaluate for local recurrence. No enhancing "
          "nodule in the prostatectomy bed.", "No local recurrence."),
    Study("mr-prostate-radiation", "MR", "MR PROSTATE MULTIPARAMETRIC",
          "History: prostate cancer treated with external beam radiation therapy 2021; biochemical "
          "recurrence. Diffuse low T2 signal of the gland.", "Post-radiation changes."),
    Study("ct-abd-prostate", "CT", "CT ABD PELVIS W CONTRAST",
          "Enlarged prostate gland. Kidneys normal.", "Prostatomegaly."),

    # ---- adnexa: O-RADS US for pelvic US that looks at the ovaries; O-RADS MRI for adnexal masses
    Study("us-tv", "US", "US PELVIS TRANSVAGINAL",
          "LMP 2 weeks ago. Right ovary with a 4 cm unilocular anechoic cyst.", "Simple cyst.", "O-RADS"),
    Study("us-pelvis-complete", "US", "US PELVIS COMPLETE TA AND TV",
          "Uterus normal. Endometrium 6 mm. Both ovaries normal with follicles.", "Normal pelvic ultrasound.",
          "O-RADS"),
    Study("us-ob-first-trimester", "US", "US OB LESS THAN 14 WEEKS TRANSVAGINAL",
          "Single live intrauterine pregnancy, CRL 12 mm, fetal heart rate 160 bpm. Ovaries unremarkable.",
          "Live IUP at 7w3d."),
    Study("us-ob-adnexal-mass", "US", "US OB LESS THAN 14 WEEKS TRANSVAGINAL",
          "Single live intrauterine pregnancy. Right adnexal 5 cm complex cystic mass with a solid component.",
          "Adnexal mass.", "O-RADS"),
    Study("mr-fibroids", "MR", "MRI PELVIS W WO CONTRAST",
          "Indication: menorrhagia. Enlarged uterus with multiple intramural leiomyomas, largest 6 cm. Ovaries "
          "normal.", "Fibroid uterus."),
    Study("mr-adnexal-mass", "MR", "MRI PELVIS FEMALE W WO",
          "Indeterminate 6 cm left adnexal mass on ultrasound. Multilocular cystic lesion with enhancing solid "
          "tissue.", "Adnexal mass.", "O-RADS"),
    Study("ct-ovarian-cyst", "CT", "CT ABD PELVIS W CONTRAST",
          "4 cm right ovarian cyst. No free fluid.", "Ovarian cyst."),
    Study("us-scrotum", "US", "US SCROTUM W DOPPLER",
          "Testes normal in size with normal flow. Small left hydrocele.", "Small hydrocele."),

    # ---- head and neck: NI-RADS for surveillance after treatment of a head and neck cancer
    Study("ct-neck-surv", "CT", "CT SOFT TISSUE NECK W CONTRAST",
          "Hx oropharyngeal SCC s/p chemoradiation 2024. Post-treatment changes. No recurrent mass.",
          "No recurrence.", "NI-RADS"),
    Study("pet-hn-surv", "PT", "PET CT HEAD NECK",
          "Laryngeal SCC s/p total laryngectomy and radiation. No FDG-avid recurrence.", "No recurrence.",
          "NI-RADS"),
    Study("pet-lymphoma", "PT", "PET/CT SKULL BASE TO THIGH",
          "Restaging DLBCL after 4 cycles R-CHOP. Residual mediastinal mass, Deauville 3.", "Partial response.",
          staging=True),
    Study("pet-initial-lymphoma", "PT", "PET/CT SKULL BASE TO THIGH",
          "Initial staging of newly diagnosed Hodgkin lymphoma. FDG-avid cervical and mediastinal nodes.",
          "Stage II disease.", staging=True),
    Study("ct-neck-peds", "CT", "CT NECK W CONTRAST",
          "6-year-old with neck swelling. Suppurative level II lymphadenitis, no drainable abscess.",
          "Lymphadenitis."),
    Study("ct-neck-new-cancer", "CT", "CT NECK W CONTRAST",
          "Newly diagnosed oropharyngeal SCC, staging. 3 cm left tonsillar mass with ipsilateral level II node.",
          "Tonsil primary with nodal disease.", staging=True),
    Study("mr-brain-hn-history", "MR", "MRI BRAIN W WO CONTRAST",
          "History of head and neck cancer s/p radiation. No intracranial metastasis.", "Negative."),
    Study("ct-chest-hn-history", "CT", "CT CHEST W CONTRAST",
          "History of head and neck squamous cell carcinoma s/p chemoradiation. No pulmonary nodules.",
          "No thoracic metastasis."),

    # ---- heart: CAD-RADS on coronary CTA, not on a calcium score alone
    Study("ccta-cac", "CT", "CTA CORONARY W CALCIUM SCORE",
          "Calcium score 120. 50-69% stenosis of the proximal LAD.", "Moderate stenosis.", "CAD-RADS"),
    Study("ccta-abbrev", "CT", "CCTA", "Indication: stable chest pain.\nMild non-obstructive plaque in the RCA.",
          "Mild CAD.", "CAD-RADS"),
    Study("ct-angio-heart", "CT", "CT ANGIO HEART CORONARY ARTERIES W CONTRAST",
          "No coronary plaque or stenosis.", "Normal coronaries.", "CAD-RADS"),
    Study("ccta-cpt", "CT", None, "Left main patent. 70% stenosis of the mid RCA.", "Severe stenosis.",
          "CAD-RADS", code="75574"),
    Study("cac-only", "CT", "CT CORONARY CALCIUM SCORING WO CONTRAST",
          "Agatston score 240, LAD and RCA.", "Moderate coronary calcium."),
    Study("ct-tavr", "CT", "CT CARDIAC TAVR PLANNING W CONTRAST",
          "Aortic annulus 24 mm. Iliofemoral access adequate.", "Measurements as above."),

    # ---- bladder and gallbladder
    Study("mr-bladder", "MR", "MRI BLADDER W WO MULTIPARAMETRIC",
          "2.5 cm papillary tumor on the left lateral wall; intact low-signal muscularis.", "Tumor.", "VI-RADS"),
    Study("ct-urogram-bladder", "CT", "CT UROGRAM", "1.5 cm enhancing bladder wall mass.", "Bladder mass."),
    Study("us-ruq-wall", "US", "US ABDOMEN LIMITED RUQ",
          "Diffuse gallbladder wall thickening 5 mm with intramural cysts. No stones.", "Adenomyomatosis.",
          "GB-RADS"),
    Study("us-abd-complete-stones", "US", "US ABDOMEN COMPLETE",
          "Cholelithiasis without wall thickening. Liver and kidneys normal.", "Cholelithiasis."),

    # ---- chest radiographs: CheXpert labels
    Study("xr-chest-2v", "DX", "XR CHEST 2V PA LAT", "Lungs clear. Heart size normal.", "No acute disease.",
          chexpert=True),
    Study("cr-chest-port", "CR", "CR CHEST PORT 1V",
          "ET tube 4 cm above the carina. Right IJ line tip in the SVC. Bibasilar atelectasis.", "Lines in place.",
          chexpert=True),
    Study("xr-chest-no-modality", None, "XR CHEST 2V PA LAT", "Small left pleural effusion.", "Effusion.",
          chexpert=True),
    Study("xr-chest-xr-modality", "XR", "CHEST 1 VIEW", "No pneumothorax.", "Negative.", chexpert=True),
    Study("xr-chest-peds", "DX", "XR CHEST 2V PEDS",
          "5-year-old with fever. Right middle lobe consolidation.", "Pneumonia.", chexpert=True),
    Study("xr-chest-onc", "DX", "XR CHEST PA AND LATERAL",
          "History: lung cancer on chemotherapy, follow-up.\nComparison: 2025-01-10.\nRight hilar mass, "
          "unchanged. No effusion.", "Stable right hilar mass.", chexpert=True, temporal=True),
    Study("text-only-cxr", None, None, "PA and lateral chest radiograph.\nMild cardiomegaly. No edema.",
          "Cardiomegaly.", chexpert=True),
    Study("xr-abdomen-lung-bases", "DX", "XR ABDOMEN 2 VIEWS",
          "Nonobstructive bowel gas pattern. The lung bases are clear.", "Normal."),
    Study("xr-shoulder", "DX", "XR SHOULDER LT 3V",
          "No fracture or dislocation. The visualized left lung is clear.", "Negative."),
    Study("ct-chest-no-chexpert", "CT", "CT CHEST WO CONTRAST", "Lungs clear. No effusion.", "Negative."),

    # ---- staging and restaging
    Study("cap-restaging", "CT", "CT CHEST ABD PELVIS W CONTRAST",
          "Restaging: metastatic colon cancer on FOLFOX. Liver metastases decreased in size.", "Partial response.",
          staging=True, temporal=True),
    Study("cap-surveillance", "CT", "CT CAP W CONTRAST",
          "Surveillance: colon cancer s/p resection 2021. No evidence of recurrence.", "No recurrence."),
    Study("ct-chest-suspicious-mass", "CT", "CT CHEST W CONTRAST",
          "Indication: cough. 2.5 cm spiculated RUL mass, suspicious for primary lung cancer. Enlarged right "
          "hilar node.", "Suspicious RUL mass.", staging=True),
    Study("mg-known-cancer", "MG", "MAMMO DX BIL",
          "Known right breast cancer, pre-operative. Biopsy clip at 10 o'clock.", "Known cancer.", "BI-RADS"),
    Study("ct-appendicitis", "CT", "CT ABD PELVIS W CONTRAST", "RLQ pain. Acute appendicitis.", "Appendicitis."),
    Study("ct-head", "CT", "CT HEAD WO", "No acute intracranial abnormality.", "Negative."),

    # ---- more traps
    Study("us-ruq-acute-chole", "US", "US ABDOMEN LIMITED RUQ",
          "Distended gallbladder with an impacted neck stone, wall thickening 5 mm, pericholecystic fluid and "
          "positive sonographic Murphy sign.", "Acute calculous cholecystitis."),
    Study("us-ruq-no-acute", "US", "US RUQ",
          "Gallbladder wall 4 mm, focal fundal thickening. Negative sonographic Murphy sign.",
          "No evidence of acute cholecystitis. Focal fundal wall thickening.", "GB-RADS"),
    Study("ct-chest-lcs-indication", "CT", "CT CHEST WO CONTRAST",
          "Indication: lung cancer screening, 40 pack-year current smoker.\nNo suspicious nodules.",
          "Negative screen.", "Lung-RADS"),
    Study("ct-chest-lowdose-technique", "CT", "CT CHEST WO CONTRAST",
          "Indication: follow-up of an incidental 6 mm nodule.\nTechnique: low-dose CT of the chest without "
          "contrast.\nThe RUL nodule is unchanged at 6 mm.", "Stable nodule.", temporal=True),
    Study("ldct-never-smoker", "CT", "CT CHEST LDCT",
          "Indication: never smoker, follow-up of an incidental nodule seen on CT abdomen.\n5 mm nodule RLL.",
          "Small nodule."),
    Study("mr-prostate-untreated", "MR", "MRI PROSTATE W WO CONTRAST",
          "PSA 5.5. No prior prostatectomy or radiation. No focal lesion.", "Negative.", "PI-RADS"),
    Study("mr-prostate-active-surveillance", "MR", "MR PROSTATE MPMRI W WO",
          "Active surveillance for Gleason 3+3 prostate cancer. Stable 8 mm left PZ lesion.", "Stable lesion.",
          "PI-RADS", temporal=True),
    Study("xr-babygram", "CR", "XR CHEST ABDOMEN NEONATE 1V",
          "Endotracheal tube tip at T2. Umbilical venous catheter tip at the right atrium. Mild granular "
          "opacities.", "Support devices as described.", chexpert=True),
    Study("xr-t-spine", "DX", "XR THORACIC SPINE 2V",
          "Mild degenerative change. The lungs are clear.", "No fracture."),
    Study("ct-neck-thyroid-ca", "CT", "CT NECK W CONTRAST",
          "History of papillary thyroid cancer s/p total thyroidectomy. No cervical adenopathy.", "No recurrence."),
    Study("ct-neck-parotid-benign", "CT", "CT SOFT TISSUE NECK W CONTRAST",
          "Status post right parotidectomy for pleomorphic adenoma. Expected postoperative changes.",
          "Postoperative changes."),
    Study("mr-rectal-staging", "MR", "MRI PELVIS RECTAL CANCER STAGING",
          "Biopsy-proven rectal adenocarcinoma. Mid rectal tumor abuts the prostate; 2 mesorectal nodes.",
          "T3 N1 rectal cancer.", staging=True),

    Study("mr-prostate-pre-prostatectomy", "MR", "MRI PROSTATE W WO CONTRAST",
          "Biopsy-proven Gleason 4+4 adenocarcinoma; candidate for radical prostatectomy. 1.8 cm right PZ lesion.",
          "Right PZ lesion.", "PI-RADS", staging=True),
    Study("us-thyroid-pre-op", "US", "US THYROID",
          "2.4 cm solid hypoechoic right lobe nodule with microcalcifications; planning thyroidectomy.",
          "Suspicious nodule.", "TI-RADS"),
    Study("us-thyroid-cyst", "US", "US THYROID", "Right lobe: 6 mm purely cystic lesion. Left lobe normal.",
          "Small thyroid cyst.", "TI-RADS"),

    Study("ct-chest-recommend-screening", "CT", "CT CHEST W CONTRAST",
          "Indication: chest pain. Moderate centrilobular emphysema. No nodules.",
          "Emphysema. Consider lung cancer screening if eligible."),

    Study("mr-fibroids-endometrioma", "MR", "MRI PELVIS W WO CONTRAST",
          "Indication: pelvic pain. Two intramural leiomyomas. Right ovarian 3 cm endometrioma with T2 shading.",
          "Fibroids; right endometrioma.", "O-RADS"),

    # ---- temporal comparison
    Study("temporal-prior-text", "CT", "CT HEAD WO", "No hemorrhage.", "Negative.",
          temporal=True, prior="Small subdural hematoma."),
    Study("temporal-none", "CT", "CT ABD PELVIS W CONTRAST",
          "Comparison: None.\nNo prior studies. Acute appendicitis.", "Appendicitis."),
    Study("temporal-unavailable", "CT", "CT ABD PELVIS W CONTRAST",
          "COMPARISON: Unavailable.\nSimple renal cyst.", "Renal cyst."),
    Study("temporal-previous-surgery", "US", "US ABDOMEN COMPLETE",
          "History: previous cholecystectomy. Liver normal. CBD 6 mm.", "Post-cholecystectomy."),
    Study("temporal-previously-noted", "CT", "CT CHEST WO CONTRAST",
          "The previously noted RLL consolidation has resolved.", "Resolved consolidation.", temporal=True),
]


@pytest.mark.parametrize("study", STUDIES, ids=[s.sid for s in STUDIES])
def test_unseen_study_plan(study: Study) -> None:
    check_plan(study)


def test_enough_unseen_studies() -> None:
    assert len(STUDIES) >= 80
    assert len({s.sid for s in STUDIES}) == len(STUDIES)


def test_comparison_unavailable_is_no_comparison() -> None:
    report = RadiologyReport(report_id="c", comparison="Unavailable.", findings="Normal.", impression="Normal.")
    assert not compares_with_prior(report)


@pytest.mark.parametrize(
    ("procedure", "regions"),
    [
        ("XR THORACIC SPINE 2V", {"spine"}),
        ("CT CERVICAL SPINE WO CONTRAST", {"spine"}),
        ("CT CHEST ABD PELVIS W CONTRAST", {"chest", "abdomen", "pelvis"}),
        ("MRI THORACIC AND LUMBAR SPINE", {"spine"}),
    ],
)
def test_a_spine_study_is_not_a_chest_study(procedure: str, regions: set[str]) -> None:
    """A model-only Lung-RADS on a thoracic spine film is a misfit; the word 'thoracic' is the spine's."""
    assert body_regions(procedure) == frozenset(regions)
