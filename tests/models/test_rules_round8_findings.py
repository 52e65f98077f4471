"""Rules engine, round 8: chest findings, critical results, follow-ups, stages, sides, changes and NLI.

New report wordings for the non-RADS rules: the CheXpert labeler's own conventions that earlier rounds left
out ("history of X" and "X has cleared" are negative, "X is a consideration", "findings favor X" and "X is not
well evaluated" are uncertain, heart failure leaves the heart's size uncertain, "partial resolution" is still
there), look-alikes set aside ("skin fold mimicking a pneumothorax"), template fields ("PE: negative.",
"Heart: Mildly enlarged."), "resolved after chest tube removal", a "new" finding in a sentence that also says
"decreased", endoscopic-ultrasound stages ("uT3 N1"), a general heading before a global "no distant
metastases" ("PET/CT staging: ..."), follow-up procedures and soft recommending verbs, resolved and
post-operative clauses that set no side, the comparison phrase that opens a sentence, "persistent" and
"re-demonstrated" as unchanged, and a hedged premise against a denial in NLI. Everything runs the real
engine on the text.
"""

from __future__ import annotations

import pytest
from rules_probe import ENGINE
from rules_probe import chexpert as _chexpert
from rules_probe import critical as _critical
from rules_probe import report as _report
from rules_probe import stages as _stages

from models.rules.nli import stated_nli
from models.rules.temporal import stated_changes

# ---- CheXpert labels (chest radiograph findings and impressions) ---------------------------------------------

_CHEXPERT = [
    # the usual negations and hedges, in chest-radiograph wording
    ("No focal consolidation, pleural effusion, or pneumothorax. Heart size is normal.",
     {"cardiomegaly": "negative", "consolidation": "negative", "pleural effusion": "negative", "pneumothorax": "negative"}),
    ("Bibasilar opacities, likely atelectasis, less likely pneumonia.",
     {"atelectasis": "uncertain", "lung opacity": "positive", "pneumonia": "uncertain"}),
    ("Left lower lobe opacity, likely atelectasis; pneumonia is less likely.",
     {"atelectasis": "uncertain", "lung opacity": "positive", "pneumonia": "uncertain"}),
    ("The previously noted right apical pneumothorax is no longer seen.", {"pneumothorax": "negative"}),
    ("Interval resolution of the right pleural effusion.", {"pleural effusion": "negative"}),
    ("Right pleural effusion has resolved. Small left effusion persists.", {"pleural effusion": "positive"}),
    ("Pneumothorax cannot be excluded on this supine film.", {"pneumothorax": "uncertain"}),
    ("Tiny bilateral pleural effusions are not excluded.", {"pleural effusion": "uncertain"}),
    ("Trace left pleural effusion is suspected.", {"pleural effusion": "uncertain"}),
    ("Questionable small right pneumothorax.", {"pneumothorax": "uncertain"}),
    ("Tiny left apical pneumothorax, decreased from prior.", {"pneumothorax": "positive"}),
    ("Small left pleural effusion is unchanged.", {"pleural effusion": "positive"}),
    ("Pulmonary edema has improved.", {"edema": "positive", "lung opacity": "positive"}),
    ("Patchy right lower lobe airspace disease concerning for pneumonia.",
     {"lung opacity": "positive", "pneumonia": "uncertain"}),
    ("Opacity in the right upper lobe, possibly representing pneumonia in the appropriate clinical setting.",
     {"lung opacity": "positive", "pneumonia": "uncertain"}),
    ("There is no consolidation to suggest pneumonia.", {"consolidation": "negative", "pneumonia": "negative"}),
    ("Rib fractures cannot be excluded; dedicated rib series recommended if clinically indicated.",
     {"fracture": "uncertain"}),
    ("Blunting of the left costophrenic angle, which may reflect a small effusion or pleural thickening.",
     {"pleural effusion": "uncertain", "pleural other": "uncertain"}),
    ("Left basilar consolidation, which may represent pneumonia or aspiration.",
     {"consolidation": "positive", "lung opacity": "positive", "pneumonia": "uncertain"}),
    ("Mild interstitial prominence which may represent mild edema versus atypical infection.",
     {"edema": "uncertain", "pneumonia": "uncertain"}),
    ("Right upper lobe collapse.", {"atelectasis": "positive"}),
    # lines and tubes, status post
    ("Status post median sternotomy. Lines and tubes are in unchanged position.", {"support devices": "positive"}),
    ("Endotracheal tube and enteric tube have been removed.", {"support devices": "negative"}),
    ("Right IJ central venous catheter with tip in the SVC. No pneumothorax.",
     {"pneumothorax": "negative", "support devices": "positive"}),
    ("Left chest tube in place. Tiny residual left apical pneumothorax.",
     {"pneumothorax": "positive", "support devices": "positive"}),
    # an exception ends the negation
    ("No focal consolidation other than mild left basilar atelectasis.", {"atelectasis": "positive", "consolidation": "negative"}),
    ("No pneumothorax or effusion other than a trace left effusion.", {"pleural effusion": "positive", "pneumothorax": "negative"}),
    ("No pneumothorax, but small left effusion.", {"pleural effusion": "positive", "pneumothorax": "negative"}),
    ("Right pneumothorax persists and the left effusion has resolved.", {"pleural effusion": "negative", "pneumothorax": "positive"}),
    ("Left basilar opacity and a small effusion cannot be excluded.", {"lung opacity": "uncertain", "pleural effusion": "uncertain"}),
    # "history of X" is negative (the CheXpert labeler's negation rule), a finding after it is not
    ("History of right upper lobe pneumonia.", {"pneumonia": "negative"}),
    ("History of right upper lobe pneumonia. Lungs are clear.", {"lung opacity": "negative", "pneumonia": "negative"}),
    ("History of COPD, now with right lower lobe pneumonia.", {"lung opacity": "positive", "pneumonia": "positive"}),
    # cleared, and resolved after chest tube removal
    ("Interval clearing of the left basilar opacity.", {"lung opacity": "negative"}),
    ("Left basilar opacity has cleared.", {"lung opacity": "negative"}),
    ("Pulmonary edema has cleared.", {"edema": "negative"}),
    ("Pneumothorax resolved after chest tube removal.", {"pneumothorax": "negative", "support devices": "negative"}),
    # partial resolution: still there
    ("Partial resolution of the right pleural effusion.", {"pleural effusion": "positive"}),
    ("The left pleural effusion has partially resolved.", {"pleural effusion": "positive"}),
    # in the differential: uncertain
    ("Aspiration pneumonia is a consideration.", {"pneumonia": "uncertain"}),
    ("Considerations include atelectasis and pneumonia.", {"atelectasis": "uncertain", "pneumonia": "uncertain"}),
    ("Findings favor atelectasis rather than pneumonia.", {"atelectasis": "uncertain", "pneumonia": "negative"}),
    ("Pneumonia is considered unlikely.", {"pneumonia": "negative"}),
    # the study cannot tell
    ("Pneumothorax is not well evaluated on this supine radiograph.", {"pneumothorax": "uncertain"}),
    ("Limited evaluation for pneumothorax given supine technique.", {"pneumothorax": "uncertain"}),
    # heart failure: edema, and the heart's size uncertain unless the report gives it
    ("Findings consistent with congestive heart failure.",
     {"cardiomegaly": "uncertain", "edema": "positive", "lung opacity": "positive"}),
    ("Findings consistent with CHF. Heart size is normal.",
     {"cardiomegaly": "negative", "edema": "positive", "lung opacity": "positive"}),
    ("No evidence of CHF.", {"edema": "negative"}),
    # lungs described, then clear
    ("Lungs are hypoinflated but clear.", {"lung opacity": "negative"}),
    ("The lungs are otherwise clear.", {"lung opacity": "negative"}),
    ("Lungs are low in volume but otherwise clear.", {"lung opacity": "negative"}),
    ("Lungs are hyperinflated with a small nodule but otherwise clear.", {"lung lesion": "positive"}),
    # template fields
    ("Lungs: Clear. Pleura: No effusion or pneumothorax. Heart: Normal size.",
     {"cardiomegaly": "negative", "lung opacity": "negative", "pleural effusion": "negative", "pneumothorax": "negative"}),
    ("Heart: Mildly enlarged.", {"cardiomegaly": "positive"}),
    ("Mediastinum: Widened.", {"enlarged cardiomediastinum": "positive"}),
    ("Pneumothorax: negative.", {"pneumothorax": "negative"}),
    ("Pneumothorax: None seen.", {"pneumothorax": "negative"}),
    ("Pleural effusion: none, pneumothorax: small right apical.", {"pleural effusion": "negative", "pneumothorax": "positive"}),
    # "X: no change" is no denial of X
    ("Left basilar opacity: no change.", {"lung opacity": "positive"}),
    ("Right pneumothorax: no significant change.", {"pneumothorax": "positive"}),
    ("Heart and mediastinum are within normal limits.", {"cardiomegaly": "negative", "enlarged cardiomediastinum": "negative"}),
    # pleural scar (the CheXpert labeler's pleural other list)
    ("Biapical pleuroparenchymal scarring.", {"pleural other": "positive"}),
    ("Right apical pleural scar.", {"pleural other": "positive"}),
    # look-alikes set aside
    ("Apparent right apical pneumothorax likely represents a skin fold.", {"pneumothorax": "negative"}),
    ("Skin fold projects over the right apex, mimicking a pneumothorax.", {"pneumothorax": "negative"}),
    ("Right apical lucency may represent a small pneumothorax versus skin fold.", {"pneumothorax": "uncertain"}),
    # "lines/tubes" is one heading for the devices, not two alternatives; "atelectasis/pneumonia" still is
    ("Lines/tubes: Stable.", {"support devices": "positive"}),
    ("Tubes/lines are in satisfactory position.", {"support devices": "positive"}),
    ("Atelectasis/pneumonia at the left base.", {"atelectasis": "uncertain", "pneumonia": "uncertain"}),
    ("The cardiac silhouette is top normal in size.", {"cardiomegaly": "negative"}),
]


@pytest.mark.parametrize(("findings", "expected"), _CHEXPERT)
def test_chexpert_labels(findings: str, expected: dict[str, str]) -> None:
    assert _chexpert(_report(findings=findings, modality="CR")) == expected


def test_no_finding_follows_the_new_readings() -> None:
    def no_finding(text: str) -> str:
        return ENGINE.chexpert(_report(findings=text, modality="CR")).labels["no finding"]

    assert no_finding("History of right upper lobe pneumonia. Lungs are clear.") == "positive"
    assert no_finding("Skin fold mimicking a pneumothorax. Lungs are clear.") == "positive"
    assert no_finding("Aspiration pneumonia is a consideration.") == "negative"
    assert no_finding("Pneumothorax is not well evaluated on this supine radiograph.") == "negative"


# ---- critical results (called, negated, old, look-alikes) ------------------------------------------------------

_CRITICAL = [
    ("Large right pneumothorax with leftward mediastinal shift and depression of the right hemidiaphragm. "
     "Findings called to Dr. Smith at 14:05.", [("tension pneumothorax", "definite")]),
    ("CRITICAL RESULT: New moderate left pneumothorax. Communicated to Dr. Rivera by phone at 09:14.",
     [("pneumothorax", "definite")]),
    ("No pneumothorax. Critical result called to Dr. Lee.", []),
    ("No pneumothorax or other acute finding. These results were called to Dr. Hall at 8:02 am.", []),
    ("Tiny right apical pneumothorax, unchanged from prior.", []),
    ("Right pneumothorax has resolved following chest tube placement.", []),
    ("Filling defects in the right lower lobe segmental pulmonary arteries consistent with acute pulmonary "
     "embolism. Results called to Dr. Patel at 3:15 pm.", [("pulmonary embolism", "definite")]),
    ("No central or segmental pulmonary embolism. Subsegmental evaluation is limited by motion.", []),
    ("Pulmonary embolism is not excluded due to suboptimal contrast opacification.", [("pulmonary embolism", "uncertain")]),
    ("Chronic pulmonary embolism in the right lower lobe pulmonary artery, unchanged.", []),
    ("Acute subdural hematoma along the left convexity measuring 8 mm. Discussed with Dr. Brown at 02:10.",
     [("intracranial hemorrhage", "definite")]),
    ("Chronic right subdural hematoma, decreased in size.", []),
    ("Intraparenchymal hemorrhage in the left basal ganglia, increased in size since prior.",
     [("intracranial hemorrhage", "definite")]),
    ("Small amount of free air, expected after recent laparotomy.", []),
    ("Large volume pneumoperitoneum, out of proportion to postoperative expectation, concerning for perforation.",
     [("free air", "definite")]),
    ("Type A aortic dissection extending from the aortic root to the arch. Findings called to Dr. Kim at 11:20.",
     [("aortic dissection", "definite")]),
    ("Status post repair of type A aortic dissection with chronic dissection flap in the descending aorta.", []),
    ("Endotracheal tube tip in the right mainstem bronchus; recommend withdrawal by 3 cm. Called to the ICU team.",
     [("malpositioned support device", "definite")]),
    ("Lines and tubes are in satisfactory position. No pneumothorax.", []),
    ("Feeding tube courses into the right lower lobe bronchus. Called to Dr. Ng.",
     [("malpositioned support device", "definite")]),
    ("Findings concerning for left testicular torsion. Urology notified.", [("testicular torsion", "uncertain")]),
    ("Pathologic fracture of T10 with retropulsion causing severe cord compression.",
     [("spinal cord compression", "definite")]),
    # the study cannot tell: no finding to call
    ("Pneumothorax is not well evaluated on this supine radiograph.", []),
    # gone: cleared, resolved after the tube came out, partly resolved
    ("Pneumothorax resolved after chest tube removal.", []),
    ("Interval clearing of the pneumothorax.", []),
    ("Partial resolution of the right pneumothorax.", []),
    ("Interval decrease in the size of the left pneumothorax after chest tube placement.", []),
    # look-alikes set aside
    ("Apparent right apical pneumothorax likely represents a skin fold.", []),
    ("Skin fold projects over the right apex, mimicking a pneumothorax.", []),
    ("Right apical lucency may represent a small pneumothorax versus skin fold.", [("pneumothorax", "uncertain")]),
    # the new backward rules reach the finding just before them, not one earlier in the sentence
    ("Small right pneumothorax and a left apical line that represents a skin fold.", [("pneumothorax", "definite")]),
    ("Right pneumothorax persists and the left basilar opacity has cleared.", [("pneumothorax", "definite")]),
    ("Right pneumothorax, and aspiration pneumonia is a consideration.", [("pneumothorax", "definite")]),
    ("Small right pneumothorax; the left lung base is not well evaluated.", [("pneumothorax", "definite")]),
    # a backward rule stops where a new clause with its own subject starts
    ("Right pneumothorax persists and the left effusion has resolved.", [("pneumothorax", "definite")]),
    ("Small right pneumothorax and the left effusion is not seen.", [("pneumothorax", "definite")]),
    ("Right pneumothorax, and the left pneumothorax has resolved.", [("pneumothorax", "definite")]),
    ("The right pneumothorax seen on the prior study has resolved.", []),
    # template fields that deny
    ("PE: negative.", []),
    ("Right pneumothorax: no significant change.", []),
    ("Pneumothorax: None.", []),
    # still in the differential: suspected, so still called
    ("Considerations include pneumothorax.", [("pneumothorax", "uncertain")]),
    # "new" right before the finding outweighs a "decreased"/"stable" elsewhere in the sentence
    ("Decreased left pleural effusion and new small right pneumothorax.", [("pneumothorax", "definite")]),
    ("Stable cardiomegaly with a new right apical pneumothorax.", [("pneumothorax", "definite")]),
    ("Stable right pneumothorax, no new pneumothorax.", []),
    # torsion named after the organ the sentence is about
    ("Right ovary enlarged with absent Doppler flow, consistent with torsion.", [("ovarian torsion", "definite")]),
    ("Enlarged left ovary without internal flow, concerning for torsion.", [("ovarian torsion", "uncertain")]),
    ("Left testis is enlarged and heterogeneous without flow, consistent with torsion. Urology paged.",
     [("testicular torsion", "definite")]),
    ("Normal flow to both ovaries, no findings to suggest torsion.", []),
    ("The right ovary has a 4 cm cyst, not consistent with torsion.", []),
    # communication sentences and "but" do not change what is found
    ("No mass effect, but there is a small acute subdural hematoma along the falx.", [("intracranial hemorrhage", "definite")]),
    ("Small right pneumothorax status post CT-guided lung biopsy. Findings discussed with Dr. Adams.",
     [("pneumothorax", "definite")]),
    ("Evolving left MCA infarct without hemorrhagic transformation.", []),
    ("No acute intracranial abnormality except for a small acute subdural hematoma along the falx.",
     [("intracranial hemorrhage", "definite")]),
    # "history of" names only what follows it closely: a current finding later in the sentence still counts
    ("History of COPD, now with a new left pneumothorax.", [("pneumothorax", "definite")]),
    ("History of trauma with acute subdural hematoma.", [("intracranial hemorrhage", "definite")]),
    ("History of pneumothorax.", []),
    ("History of hypertension, aortic dissection has been repaired.", []),
    ("History of hypertension with chronic subdural hematoma.", []),
]


@pytest.mark.parametrize(("findings", "expected"), _CRITICAL)
def test_critical_findings(findings: str, expected: list[tuple[str, str]]) -> None:
    assert _critical(_report(findings=findings)) == expected


# ---- follow-up recommendations -------------------------------------------------------------------------------

_FOLLOW_UPS = [
    ("Recommend follow-up chest radiograph in 6-8 weeks to document resolution.", [("follow-up chest radiograph", "P6W")]),
    ("Follow-up CT in 12 months is recommended per Fleischner guidelines.", [("Follow-up CT", "P12M")]),
    ("No follow-up imaging is recommended.", []),
    ("Recommend non-contrast CT chest in 6 to 12 months.", [("non-contrast CT chest", "P6M")]),
    ("Follow-up chest radiograph in 2-3 days is recommended.", [("Follow-up chest radiograph", "P2D")]),
    ("Recommend dedicated rib series if clinically indicated.", [("dedicated rib series", None)]),
    ("Findings called to Dr. Smith. Recommend CT angiography of the chest.", [("CT angiography of the chest", None)]),
    ("Recommend clinical follow-up and repeat imaging in 10-14 days.", [("repeat imaging", "P10D")]),
    ("If clinically indicated, follow-up radiographs could be obtained in 7-10 days.", [("follow-up radiographs", "P7D")]),
    ("Follow-up radiographs may be considered in 7-10 days.", [("Follow-up radiographs", "P7D")]),
    ("Per Fleischner guidelines, optional CT at 12 months.", [("CT", "P12M")]),
    ("Recommend interventional radiology consultation for drainage.", [("interventional radiology consultation", None)]),
    ("Recommend pulmonology referral.", [("pulmonology referral", None)]),
    ("Recommend PA and lateral chest radiographs when the patient is able.", [("PA and lateral chest radiographs", None)]),
    ("Recommend upright radiograph to evaluate for pneumothorax.", [("upright radiograph", None)]),
    ("Recommend MRI brain with and without contrast.", [("MRI brain", None)]),
    ("Per Fleischner Society guidelines, no routine follow-up is required.", []),
    ("Recommend 6-week follow-up radiograph.", [("follow-up radiograph", "P6W")]),
]


@pytest.mark.parametrize(("text", "expected"), _FOLLOW_UPS)
def test_follow_up_recommendations(text: str, expected: list[tuple[str | None, str | None]]) -> None:
    got = ENGINE.follow_ups(_report(impression=text, findings="See impression."))
    assert [(f.procedure, f.interval) for f in got] == expected


# ---- stated N and M (oncology CT/PET) ---------------------------------------------------------------------------

_STAGES = [
    ("IMPRESSION:\n1. Left lower lobe spiculated mass, biopsy-proven adenocarcinoma.\n2. FDG-avid left hilar node.\n"
     "3. No distant metastases.\nClinical stage: cT2b cN1 cM0 (stage IIB).", "N1", "M0"),
    ("Pancreatic head mass with encasement of the SMA. No hepatic metastases. Stage: T4 N0 M0.", "N0", "M0"),
    ("N-stage: N2 (ipsilateral mediastinal). M-stage: M1b (solitary adrenal metastasis).", "N2", "M1"),
    ("Nodes: cN0. Metastases: cM0.", "N0", "M0"),
    ("Staging summary: T3 N2a M1a.", "N2", "M1"),
    ("Nodal status: N1 (2/17 nodes positive).", "N1", None),
    ("T2 N1 M0 per outside report.", None, None),
    ("Left adrenal nodule, indeterminate; metastasis cannot be excluded.", None, None),
    ("The M1 segment of the right MCA is patent. No evidence of metastatic disease.", None, "M0"),
    ("Brain MRI: no intracranial metastases.", None, None),
    # endoscopic ultrasound stages
    ("Esophageal adenocarcinoma, uT3 N1.", "N1", None),
    ("EUS staging: uT3 uN1.", "N1", None),
    ("Gastric cancer uT2N0.", "N0", None),
    # a general heading that names the study before a global statement
    ("PET/CT staging: FDG-avid right hilar and subcarinal nodes. N2 disease. No distant metastatic disease.", "N2", "M0"),
    ("Staging PET/CT: No lymphadenopathy. No distant metastases.", "N0", "M0"),
    ("Liver: No metastases.", None, None),
]


@pytest.mark.parametrize(("text", "n", "m"), _STAGES)
def test_stated_stages(text: str, n: str | None, m: str | None) -> None:
    assert _stages(_report(text, findings="See impression.")) == (n, m)


# ---- laterality ----------------------------------------------------------------------------------------------

_SIDES = [
    ("Bilateral pleural effusions, right greater than left.", "bilateral"),
    ("Left chest tube in place. Small right pneumothorax.", "right"),
    ("Endotracheal tube in the right mainstem bronchus. Left lung collapse.", "left"),
    ("Interval placement of a left chest tube with decrease in the size of the left pneumothorax.", "left"),
    ("Displaced fractures of the posterior left 4th through 6th ribs with small left hemothorax.", "left"),
    ("Status post left lower lobectomy. New right upper lobe nodule.", "right"),
    ("Free air under the right hemidiaphragm.", None),
    # post-operative history, joint hardware and resolved findings name no side of this study's finding
    ("Status post right pneumonectomy with expected postoperative changes.", None),
    ("Lungs clear. Heart size normal. Left shoulder arthroplasty.", None),
    ("Resolved left pneumothorax. New small right pleural effusion.", "right"),
    ("The previously noted right lower lobe pneumonia has resolved. No new consolidation.", None),
    ("Left pneumothorax is no longer seen. Small right pleural effusion.", "right"),
]


@pytest.mark.parametrize(("impression", "side"), _SIDES)
def test_index_laterality(impression: str, side: str | None) -> None:
    assert ENGINE.laterality(_report(impression=impression, findings="See impression.")) == side


# ---- temporal changes ----------------------------------------------------------------------------------------

_CHANGES = [
    ("Since the prior study, the right effusion has increased.", [("right effusion", "worsened")]),
    ("Compared to 01/02/2025, the left lower lobe opacity is larger.", [("left lower lobe opacity", "worsened")]),
    ("In the interval, the pneumothorax has resolved.", [("pneumothorax", "resolved")]),
    ("Persistent small left pleural effusion.", [("small left pleural effusion", "unchanged")]),
    ("Re-demonstrated 6 mm nodule in the left upper lobe.", [("nodule in the left upper lobe", "unchanged")]),
    ("Pneumothorax is no longer visualized.", [("Pneumothorax", "resolved")]),
    ("Decreased size of the left pneumothorax following chest tube placement.", [("left pneumothorax", "improved")]),
    ("Interval development of a right pneumothorax.", [("right pneumothorax", "new")]),
    ("No new consolidation.", []),
    ("No significant interval change in bibasilar atelectasis.", [("bibasilar atelectasis", "unchanged")]),
    ("Previously noted left lower lobe consolidation has nearly resolved.", [("left lower lobe consolidation", "improved")]),
    ("Partial resolution of the right pleural effusion.", [("right pleural effusion", "improved")]),
    ("Mildly increased interstitial markings.", [("interstitial markings", "worsened")]),
    ("Unchanged appearance of bilateral pleural effusions.", [("bilateral pleural effusions", "unchanged")]),
    ("The heart remains enlarged.", [("heart", "unchanged")]),
    ("No pneumothorax. Lungs are clear. No change from prior.", []),
]


@pytest.mark.parametrize(("text", "expected"), _CHANGES)
def test_stated_changes(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.finding, c.change) for c in stated_changes(text)] == expected


# ---- NLI -----------------------------------------------------------------------------------------------------

_NLI = [
    ("No pneumothorax.", "There is a small right pneumothorax.", "contradiction"),
    ("The right pleural effusion has resolved.", "There is no right pleural effusion.", "entailment"),
    ("History of right upper lobe pneumonia. Lungs are clear.", "There is right upper lobe pneumonia.", "contradiction"),
    ("Left basilar opacity may represent pneumonia.", "Left lower lobe pneumonia.", "neutral"),
    # a hedged premise settles neither the finding nor its absence
    ("Pneumonia cannot be excluded.", "There is no pneumonia.", "neutral"),
    ("Pneumothorax is not well evaluated on this supine radiograph.", "There is no pneumothorax.", "neutral"),
    ("Skin fold mimicking a pneumothorax at the right apex.", "There is a right apical pneumothorax.", "contradiction"),
]


@pytest.mark.parametrize(("premise", "hypothesis", "label"), _NLI)
def test_stated_nli(premise: str, hypothesis: str, label: str) -> None:
    got = stated_nli(premise, hypothesis)
    assert got is not None and got.label == label
