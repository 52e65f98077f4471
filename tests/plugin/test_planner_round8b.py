"""The planner, round 8b: when O-RADS and GB-RADS apply to a pelvic or gallbladder ultrasound.

Each study is written the way a RIS feed or a radiologist sends it (procedure names such as "US PELVIS
TRANSVAGINAL W DOPPLER", "US OB LESS THAN 14 WEEKS", "US ABDOMEN LIMITED RUQ", CPT codes), with the plan
the standards give it.

Decisions pinned here:
- O-RADS US (ACR v2022) risk-stratifies adnexal lesions in average-risk patients without acute symptoms
  and not pregnant. A pelvic study is an O-RADS study only when it describes an adnexal lesion (asserted:
  "no adnexal mass" is none), and not when the report raises an acute condition for this visit (acute or
  sudden severe pain, torsion asked about or found, ectopic pregnancy, PID or a tubo-ovarian abscess, a
  ruptured cyst with hemoperitoneum) or a pregnancy (an obstetric procedure, a gestation, a positive hCG).
  A negated ("no evidence of torsion"), past ("history of ectopic pregnancy") or negative ("urine hCG
  negative", "non-pregnant") mention does not exclude it. Pelvic pain without "acute" or "severe" is the
  ordinary outpatient indication and does not exclude it. Normal ovaries or follicles alone are no lesion.
- GB-RADS grades gallbladder wall thickening outside the acute setting: a US that describes wall
  thickening (a wall over 3 mm, "thickened", "thick-walled", adenomyomatosis, intramural cysts or
  comet-tail foci), whatever its procedure name; polyps only, stones only, a normal gallbladder, a
  gallbladder that is absent, and the wall of another organ plan none; acute cholecystitis (asserted or
  hedged, not past, not ruled out) plans none.
- A category the report states is always read, in the acute setting or pregnancy too.
"""

from __future__ import annotations

import pytest
from planner_studies import Study, check_plan

from models.types import RadiologyReport, TaskName
from plugin.planner import plan_report, rads_system_for

STUDIES: list[Study] = [
    # ---- adnexa, acute setting: no O-RADS
    Study("us-tv-doppler-torsion-question", "US", "US PELVIS TRANSVAGINAL W DOPPLER",
          "Indication: acute right pelvic pain, evaluate for ovarian torsion.\nRight ovary 4.5 cm containing a "
          "3.1 cm cyst with a lacy reticular pattern; arterial and venous flow present. Small free fluid.",
          "Right hemorrhagic cyst. Flow present."),
    Study("us-pelvis-rule-out-torsion-found", "US", "US PELVIS COMPLETE W DOPPLER",
          "R/O torsion. Left ovary enlarged to 6 cm with peripheralized follicles and absent venous flow. Left "
          "adnexal 3 cm cyst as the lead point.", "Findings concerning for left ovarian torsion; surgeon notified."),
    Study("us-ob-ectopic", "US", "US OB LESS THAN 14 WEEKS TRANSVAGINAL",
          "Vaginal bleeding, quantitative hCG 2400. No intrauterine gestational sac. 2.1 cm left adnexal mass "
          "separate from the ovary with a tubal ring. Moderate echogenic free fluid.",
          "Left tubal ectopic pregnancy with hemoperitoneum."),
    Study("us-pelvis-pul", "US", "US PELVIS TRANSABDOMINAL AND TRANSVAGINAL",
          "Indication: pregnancy of unknown location, beta-hCG 850.\nEmpty uterus, endometrium 9 mm. Right ovary "
          "with a 2.4 cm thick-walled cyst with peripheral flow, likely corpus luteum.", "No IUP. Follow hCG."),
    Study("us-pelvis-pid", "US", "US PELVIS COMPLETE",
          "Fever, cervical motion tenderness, concern for PID. Left adnexal 5 cm complex cystic mass with a "
          "thick-walled tubular component and debris.", "Left tubo-ovarian complex."),
    Study("us-pelvis-toa-follow-up", "US", "US PELVIS TRANSVAGINAL",
          "Known left tubo-ovarian abscess on IV antibiotics. Left adnexal 4 cm multiloculated collection with "
          "thick walls.", "Left TOA."),
    Study("us-pelvis-ruptured-cyst", "US", "US PELVIS LIMITED",
          "Sudden onset severe left pelvic pain. Moderate complex free fluid in the cul-de-sac and Morison pouch "
          "consistent with hemoperitoneum. Left ovary with a collapsed 2 cm cyst.", "Ruptured left ovarian cyst."),
    Study("us-pelvis-torsion-protocol", "US", "US PELVIS TORSION PROTOCOL",
          "Right ovary 3.4 cm with a 2.5 cm simple cyst. Normal arterial and venous waveforms in both ovaries.",
          "No sonographic evidence of torsion."),
    Study("us-code-only-rule-out-ectopic", "US", None,
          "Indication: rule out ectopic. Positive urine pregnancy test, LMP 7 weeks. No IUP. Right adnexal "
          "1.8 cm complex cyst separate from the ovary.", "Findings suspicious for right ectopic pregnancy.",
          code="76830"),
    # ---- adnexa in pregnancy: O-RADS grades a lesion (with modified management); an obstetric exam is no O-RADS study
    Study("us-ob-first-trimester-dermoid", "US", "US OB LESS THAN 14 WEEKS",
          "Single live intrauterine pregnancy, CRL 24 mm (9w2d). Right ovarian 6 cm cyst with an echogenic "
          "shadowing nodule and fat-fluid level, typical of a dermoid.", "Live IUP. Right ovarian dermoid."),
    Study("us-pelvis-pregnant-cyst", "US", "US PELVIS LIMITED",
          "22 weeks pregnant; adnexal cyst seen on the anatomy scan. Right ovary: 5 cm unilocular anechoic cyst "
          "with smooth walls.", "Right ovarian simple cyst.", "O-RADS"),
    Study("mr-pregnant-appendix-ovarian-cyst", "MR", "MRI ABDOMEN PELVIS WO CONTRAST",
          "28 weeks pregnant with right lower quadrant pain. Normal appendix. Right ovary with a 3 cm T2 bright "
          "cyst.", "Normal appendix. Right ovarian cyst.", "O-RADS"),
    Study("mr-pelvis-placenta", "MR", "MRI PELVIS PLACENTA WO",
          "Gestation 32 weeks, placenta previa. No placental invasion into the myometrium. Ovaries not seen.",
          "Placenta previa without accreta."),
    # ---- adnexa outside the acute setting and pregnancy: O-RADS
    Study("us-tv-cyst-follow-up", "US", "US PELVIS TRANSVAGINAL",
          "Indication: follow-up of right ovarian cyst. LMP 10 days ago.\nRight ovary: 3.8 cm unilocular anechoic "
          "cyst with a smooth wall and no internal flow. Left ovary normal.", "Right ovarian simple cyst.",
          "O-RADS"),
    Study("us-pelvis-chronic-pain-endometrioma", "US", "US PELVIS TRANSABDOMINAL AND TRANSVAGINAL",
          "Chronic pelvic pain and dysmenorrhea. Left ovary: 4 cm unilocular cyst with homogeneous low-level "
          "echoes and no internal flow.", "Left ovarian endometrioma.", "O-RADS"),
    Study("us-pelvis-hcg-negative", "US", "US PELVIS COMPLETE",
          "Pelvic pressure. Urine hCG negative. Right adnexal 7 cm multilocular cyst with smooth thin septations, "
          "no solid component.", "Right adnexal multilocular cyst; MRI suggested.", "O-RADS"),
    Study("us-tv-dermoid-no-torsion", "US", "US PELVIS TRANSVAGINAL",
          "Indication: incidental left adnexal lesion on CT. Left ovary: 5.2 cm cyst with a hyperechoic shadowing "
          "component and echogenic lines and dots. Normal ovarian flow; no evidence of torsion.",
          "Left ovarian dermoid.", "O-RADS"),
    Study("us-tv-history-ectopic", "US", "US PELVIS TRANSVAGINAL",
          "History of right ectopic pregnancy treated with salpingectomy in 2024. Left ovary: 3.2 cm cyst with a "
          "reticular pattern and retracting clot.", "Left hemorrhagic cyst.", "O-RADS"),
    Study("us-tv-postmenopausal-cyst", "US", "US PELVIS TRANSVAGINAL",
          "62-year-old postmenopausal woman. Endometrium 3 mm. Right ovary: 2.5 cm simple cyst.",
          "Right ovarian simple cyst.", "O-RADS"),
    Study("us-pelvis-intermittent-pain", "US", "US PELVIS COMPLETE TA AND TV",
          "Intermittent left pelvic pain for 3 months. Left ovary: 4.2 cm bilocular cyst with a smooth thin "
          "septation.", "Left bilocular ovarian cyst.", "O-RADS"),
    Study("us-pelvis-non-pregnant-paraovarian", "US", "US PELVIS TRANSVAGINAL",
          "Non-pregnant, LMP 2 weeks ago. Right paraovarian 3 cm simple cyst separate from the ovary.",
          "Right paraovarian cyst.", "O-RADS"),
    Study("mr-pelvis-adnexa-papillary", "MR", "MR PELVIS W/O & W CONTRAST (ADNEXA)",
          "Indeterminate adnexal mass on ultrasound. Right ovarian 5 cm cystic mass with an enhancing papillary "
          "projection.", "Right adnexal cystic mass with solid tissue.", "O-RADS"),
    # ---- female pelvis exams that look at the adnexa: O-RADS (normal ovaries are O-RADS US 1); none unseen
    Study("us-pelvis-aub-normal-ovaries", "US", "US PELVIS COMPLETE TA AND TV",
          "Abnormal uterine bleeding. Uterus 8 cm, endometrium 7 mm. Ovaries normal with small follicles.",
          "Normal pelvic ultrasound.", "O-RADS"),
    Study("us-pelvis-fibroids-only", "US", "US PELVIS NON OB COMPLETE",
          "Menorrhagia. Enlarged uterus with three intramural fibroids, largest 4 cm. Ovaries not visualized.",
          "Fibroid uterus."),
    Study("us-pelvis-no-adnexal-mass", "US", "US PELVIS TRANSVAGINAL",
          "Postmenopausal bleeding. Endometrium 11 mm. No adnexal mass.", "Thickened endometrium; sampling advised.",
          "O-RADS"),
    # ---- stated O-RADS: always read
    Study("us-pelvis-acute-stated", "US", "US PELVIS W DOPPLER",
          "Acute left pelvic pain, r/o torsion. Flow preserved. Left ovary: 3 cm hemorrhagic cyst.",
          "Left hemorrhagic cyst, O-RADS US 2. No torsion.", "O-RADS"),
    Study("us-ob-stated", "US", "US OB LESS THAN 14 WEEKS",
          "Live IUP at 11 weeks. Right ovary: 4 cm multilocular cyst with a smooth inner wall.",
          "Right ovarian multilocular cyst, O-RADS US 3.", "O-RADS"),

    # ---- gallbladder: no wall thickening, no GB-RADS
    Study("us-gallbladder-polyps-only", "US", "US GALLBLADDER",
          "Three nonshadowing nonmobile echogenic polyps, largest 5 mm. Gallbladder wall 2 mm. No stones.",
          "Small gallbladder polyps."),
    Study("us-ruq-stones-normal-wall", "US", "US ABDOMEN LIMITED RUQ",
          "Multiple mobile shadowing gallstones. Gallbladder wall measures 2 mm. Negative sonographic Murphy sign.",
          "Cholelithiasis without cholecystitis."),
    Study("us-gallbladder-normal", "US", "US GALLBLADDER",
          "Gallbladder well distended with normal wall thickness. No stones, sludge or polyps.",
          "Normal gallbladder."),
    Study("us-ruq-sludge-no-wall", "US", "US RUQ",
          "The gallbladder contains sludge. There is no wall thickening or pericholecystic fluid.",
          "Gallbladder sludge."),
    Study("us-ruq-post-cholecystectomy", "US", "US ABDOMEN LIMITED RUQ",
          "Status post cholecystectomy. CBD 7 mm, normal for age and surgery.", "No acute findings."),
    Study("us-ruq-contracted", "US", "US RUQ",
          "Gallbladder contracted; patient not fasting. Wall not assessable.", "Suboptimal gallbladder evaluation."),
    Study("us-ruq-duodenal-wall-next-to-gb", "US", "US ABDOMEN LIMITED RUQ",
          "Gallbladder normal. Duodenal wall thickening adjacent to the gallbladder.",
          "Duodenal wall thickening; correlate with endoscopy."),
    Study("us-renal-bladder-wall", "US", "US RETROPERITONEUM COMPLETE",
          "Kidneys normal. Bladder wall thickening 6 mm with layering debris.", "Correlate for cystitis."),
    Study("us-gallbladder-mass-replacing", "US", "US GALLBLADDER",
          "Heterogeneous 4 cm solid mass replacing the gallbladder lumen, extending into hepatic segment 4b.",
          "Gallbladder mass; CT recommended."),
    # ---- gallbladder: acute cholecystitis, no GB-RADS
    Study("us-ruq-acute-chole-murphy", "US", "US RUQ",
          "Gallstones, gallbladder wall thickening 5 mm, pericholecystic fluid. Sonographic Murphy sign positive.",
          "Findings compatible with acute calculous cholecystitis."),
    Study("us-ruq-emphysematous", "US", "US ABDOMEN LIMITED RUQ",
          "Gallbladder wall thickened to 7 mm with echogenic gas in the wall and dirty shadowing.",
          "Emphysematous cholecystitis."),
    Study("us-ruq-cholecystitis-hedged", "US", "US GALLBLADDER",
          "Distended gallbladder, wall 6 mm, impacted neck stone.", "Possible acute cholecystitis."),
    # ---- gallbladder wall thickening outside the acute setting: GB-RADS
    Study("us-abd-complete-fundal-thickening", "US", "US ABDOMEN COMPLETE",
          "Gallbladder: focal fundal wall thickening 8 mm with intramural echogenic foci and comet-tail artifact. "
          "No stones. Liver, pancreas and kidneys normal.", "Fundal adenomyomatosis.", "GB-RADS"),
    Study("us-ruq-wall-mm", "US", "US RUQ",
          "Chronic RUQ discomfort. Gallbladder wall measures 5 mm diffusely with preserved layering. No stones. "
          "Sonographic Murphy sign negative.", "Diffuse gallbladder wall thickening.", "GB-RADS"),
    Study("us-abd-limited-wall-next-sentence", "US", "US ABDOMEN LIMITED",
          "The gallbladder is well distended after fasting. The wall is thickened to 6 mm along the fundus with "
          "loss of the layered appearance.", "Focal gallbladder wall thickening; MRI suggested.", "GB-RADS"),
    Study("us-ruq-history-acute-chole", "US", "US ABDOMEN LIMITED RUQ",
          "History of acute cholecystitis treated with percutaneous cholecystostomy in 2024. Diffuse gallbladder "
          "wall thickening 5 mm with intramural cysts.", "Adenomyomatosis.", "GB-RADS"),
    Study("us-ruq-xanthogranulomatous", "US", "US GALLBLADDER",
          "Thick-walled gallbladder, 9 mm, with hypoechoic intramural nodules and gallstones. Interface with the "
          "liver preserved.", "Possible xanthogranulomatous cholecystitis.", "GB-RADS"),
    Study("us-ruq-cirrhosis-ascites-wall", "US", "US ABDOMEN LIMITED RUQ",
          "Cirrhosis with moderate ascites. Gallbladder wall edematous and thickened to 8 mm, layered. No stones.",
          "Gallbladder wall thickening, likely from third spacing.", "GB-RADS"),
    Study("us-gallbladder-polyp-with-wall", "US", "US GALLBLADDER",
          "7 mm sessile gallbladder polyp with focal wall thickening at its base.", "Sessile polyp.", "GB-RADS"),
    Study("us-ruq-rule-out-chole-adenomyo", "US", "US RUQ",
          "Indication: RUQ pain, r/o cholecystitis. Gallbladder wall 4 mm with intramural cysts. No stones. "
          "Negative Murphy sign.", "No sonographic evidence of acute cholecystitis. Adenomyomatosis.", "GB-RADS"),
    Study("us-liver-gb-header-wall", "US", "US LIVER",
          "LIVER: normal echotexture.\nGALLBLADDER: wall 5 mm, asymmetric at the fundus.", "See findings.",
          "GB-RADS"),
    Study("us-ruq-chronic-calculous", "US", "US RUQ",
          "Contracted gallbladder with stones and diffuse wall thickening to 5 mm.",
          "Chronic calculous cholecystitis.", "GB-RADS"),
    Study("us-ruq-thickened-bile", "US", "US ABDOMEN LIMITED RUQ",
          "Gallbladder with thickened bile layering dependently. Wall 2 mm. No stones.", "Gallbladder sludge."),
    Study("us-pelvis-orads-not-applicable", "US", "US PELVIS TRANSVAGINAL",
          "Acute onset of right lower quadrant pain. Right ovary: 3 cm cyst with internal echoes. Normal flow.",
          "Right ovarian cyst. O-RADS is not applicable in the acute setting; follow-up US in 6-8 weeks."),
    # ---- gallbladder: stated GB-RADS, and other modalities
    Study("us-gallbladder-stated", "US", "US GALLBLADDER",
          "Focal fundal wall thickening 7 mm without intramural cysts.", "GB-RADS 3. MRI recommended.", "GB-RADS"),
    Study("ct-abd-gb-wall", "CT", "CT ABDOMEN PELVIS W CONTRAST",
          "Gallbladder wall thickening 6 mm. No pericholecystic stranding.", "Nonspecific gallbladder wall thickening."),
]


@pytest.mark.parametrize("study", STUDIES, ids=[s.sid for s in STUDIES])
def test_round8b_study_plan(study: Study) -> None:
    check_plan(study)


def test_enough_round8b_studies() -> None:
    assert len(STUDIES) >= 40
    assert len({s.sid for s in STUDIES}) == len(STUDIES)


@pytest.mark.parametrize(
    ("indication", "system"),
    [
        ("Indication: acute pelvic pain.", None),
        ("Indication: evaluate for torsion.", None),
        ("Indication: assess for PID.", None),
        ("Indication: positive pregnancy test.", "O-RADS"),
        ("Indication: 8 weeks pregnant.", "O-RADS"),
        ("Indication: pregnancy of unknown location.", None),
        ("Indication: pelvic pain.", "O-RADS"),
        ("Indication: pregnancy test negative.", "O-RADS"),
        ("Indication: denies pregnancy.", "O-RADS"),
        ("Indication: history of ovarian torsion.", "O-RADS"),
        ("Indication: no acute pain.", "O-RADS"),
        ("Indication: quantitative hCG 1500.", "O-RADS"),
        ("Indication: beta-hCG 2, pelvic pressure.", "O-RADS"),
        ("Indication: torsion cannot be excluded.", None),
        ("Persistent fetal lobulation of the right kidney.", "O-RADS"),
    ],
)
def test_orads_setting(indication: str, system: str | None) -> None:
    """The same adnexal lesion is an O-RADS study or not by the clinical setting the report gives."""
    report = RadiologyReport(report_id="t", modality="US", procedure="US PELVIS TRANSVAGINAL",
                             findings=indication + "\nLeft ovary: 3.5 cm unilocular cyst with low-level echoes.",
                             impression="Left ovarian cyst.")
    got, why = rads_system_for(report)
    assert got == system, why
    assert (TaskName.rads_assignment in plan_report(report).names) == (system is not None)


@pytest.mark.parametrize(
    ("gallbladder", "system"),
    [
        ("Gallbladder wall 3 mm.", None),
        ("Gallbladder wall 3.5 mm.", "GB-RADS"),
        ("Gallbladder wall 0.6 cm.", "GB-RADS"),
        ("No gallbladder wall thickening.", None),
        ("Gallbladder wall is not thickened.", None),
        ("Thickened bowel loops near the gallbladder.", None),
        ("Diffuse wall thickening of the gallbladder.", "GB-RADS"),
        ("Gallbladder polyp 8 mm.", None),
        ("Fundal adenomyomatosis.", "GB-RADS"),
        ("Gallbladder with thickened bile layering dependently.", None),
        ("Gallbladder unremarkable; adjacent peritoneal thickening.", None),
        ("Gallbladder wall appears thickened, likely from underdistention.", "GB-RADS"),
    ],
)
def test_gallbladder_wall(gallbladder: str, system: str | None) -> None:
    report = RadiologyReport(report_id="t", modality="US", procedure="US ABDOMEN LIMITED RUQ",
                             findings="Liver normal. " + gallbladder, impression="See findings.")
    got, why = rads_system_for(report)
    assert got == system, why


@pytest.mark.parametrize(
    ("procedure", "findings", "reason"),
    [
        ("US PELVIS TRANSVAGINAL", "Evaluate for torsion. Left ovary: 3 cm cyst.", "acute setting"),
        ("US PELVIS", "Male patient. Bladder wall normal. Prostate 30 mL.", "no adnexal lesion"),
        ("US GALLBLADDER", "Gallbladder polyp 5 mm. Wall 2 mm.", "no gallbladder wall thickening"),
        ("US RUQ", "Gallbladder wall 6 mm, stones, positive sonographic Murphy sign.", "acute cholecystitis"),
    ],
)
def test_no_rads_reason_names_the_gate(procedure: str, findings: str, reason: str) -> None:
    """The "no applicable RADS" answer says why the procedure's own system was not applied."""
    report = RadiologyReport(report_id="t", modality="US", procedure=procedure, findings=findings,
                             impression="See findings.")
    system, why = rads_system_for(report)
    assert system is None and why.startswith("no RADS system applies to this study") and reason in why, why
