"""Analysis -> FHIR R4 Observations, Devices, a Provenance and a transaction Bundle.

Every resource is marked as AI-asserted (meta.security AIAST, AI Transparency IG) and
is preliminary: a clinician has not confirmed it. An Observation cannot point at a
DiagnosticReport in R4 (derivedFrom excludes it), so the Provenance carries that link
(entity role `source`), and each Observation keeps its evidence as quoted sentences and
derivation-reference offsets into `RadiologyReport.text()`. Each Observation names in
`meta.profile` the profile of its kind of result (profiles.py), which we publish.

Plain dicts are built (not fhir.resources objects) because the library drops decimal
precision and turns base64 into bytes (spec §3); the tests round-trip every dict
through fhir.resources R4B and validate it with fhircraft and fhirkit.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from adapters.fhir import codes
from adapters.fhir.codes import coding, concept, local
from adapters.fhir.profiles import ResultKind, profile_for
from models.catalog import CATALOG, value_text
from models.grounding import mentioned_labels
from models.types import (
    CHEXPERT_LABELS,
    DEMO_NOTICE,
    Analysis,
    ChexpertValue,
    CriticalFinding,
    EntitiesValue,
    Evidence,
    FollowUp,
    ModelIdentity,
    MStageValue,
    NliValue,
    NStageValue,
    RadiologyReport,
    RadsValue,
    TaskName,
    TaskResult,
    TemporalValue,
    TextValue,
)

__all__ = [
    "RULES_IDENTITY",
    "observation_for",
    "observations_for",
    "critical_observation",
    "follow_up_observation",
    "device_for",
    "provenance_for",
    "transaction_bundle",
    "merge_transactions",
    "source_reference",
    "result_identifier",
    "chexpert_as_reported",
    "rads_high_suspicion",
    "patient_reference",
    "fhir_strings",
]

RULES_IDENTITY = ModelIdentity(model_id="rules", backend="rules", role="rules")
"""Who produced ReportFacts (critical findings, follow-ups): the deterministic rules engine."""

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


# ---- small helpers ---------------------------------------------------------------------


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _fhir_datetime(value: datetime | None) -> str | None:
    """FHIR dateTime: a time needs a zone, so a naive datetime is given as its date only."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.date().isoformat()
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text  # UTC as 'Z', as `issued` is and servers echo it


def patient_reference(patient_id: str) -> dict[str, Any]:
    """Reference to the patient as received: `Patient/<id>` when it is a FHIR id, else by identifier.

    An HL7 PID-3 (or a context id) may hold characters no FHIR id can ('MRN_0091 22/B');
    `Patient/<that>` would be no valid literal reference (it could not resolve), so the
    medical record number goes in a logical reference instead, as the report carries it.
    """
    if _FHIR_ID.match(patient_id):
        return {"reference": f"Patient/{patient_id}"}
    mrn = concept(coding(codes.V2_0203, "MR", "Medical record number"))
    return {"type": "Patient", "identifier": {"type": mrn, "value": patient_id}}


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def fhir_strings(node: Any) -> Any:
    """`node` with every string made a valid FHIR string (in place for dicts and lists).

    FHIR R4 strings may hold no character below U+0020 but tab, CR and LF, and the XHTML
    narrative none at all; report text may (Word writes a soft line break as VT, a page
    break as FF). VT and FF become line feeds, the other control characters are dropped.
    """
    if isinstance(node, str):
        return _CONTROL.sub(lambda m: "\n" if m.group() in "\x0b\x0c" else "", node) if _CONTROL.search(node) else node
    if isinstance(node, dict):
        for key, value in node.items():
            node[key] = fhir_strings(value)
    elif isinstance(node, list):
        node[:] = [fhir_strings(v) for v in node]
    return node


def _report_key(report: RadiologyReport) -> str:
    # The accession is the same whichever door the report came by (HL7 or FHIR), so it keys first.
    return report.accession or report.report_id


def result_identifier(report: RadiologyReport, what: str) -> dict[str, str]:
    """Stable Observation.identifier: report key + what (task or fact) + report content hash."""
    raw = f"{_report_key(report)}\x1f{what}\x1f{report.content_hash}"
    return {"system": codes.RESULT_ID_SYSTEM, "value": hashlib.sha256(raw.encode("utf-8")).hexdigest()}


def source_reference(report: RadiologyReport) -> dict[str, Any]:
    """Reference to the report the results were read from: by id for FHIR, else by accession."""
    if report.source_format == "fhir" and _FHIR_ID.match(report.report_id):
        return {"reference": f"DiagnosticReport/{report.report_id}", "type": "DiagnosticReport"}
    if report.accession:
        acsn = concept(coding(codes.V2_0203, "ACSN", "Accession ID"))
        return {"type": "DiagnosticReport", "identifier": {"type": acsn, "value": report.accession}}
    return {"type": "DiagnosticReport", "identifier": {"value": report.report_id}}


def _device_identifier(model: ModelIdentity) -> dict[str, str]:
    if model.sha256:
        return {"system": codes.MODEL_SHA256_SYSTEM, "value": model.sha256}
    return {"system": codes.MODEL_ID_SYSTEM, "value": model.model_id}


def _device_key(model: ModelIdentity) -> str:
    ident = _device_identifier(model)
    return f"{ident['system']}|{ident['value']}"


def _logical_device_ref(model: ModelIdentity) -> dict[str, Any]:
    return {"type": "Device", "identifier": _device_identifier(model), "display": model.display}


def _urn(key: str) -> str:
    """Deterministic urn:uuid, so the same resource gets the same fullUrl in every Bundle."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, codes.RADLITE_BASE + '/' + key)}"


def _one_line(text: str) -> str:
    """Text with every run of white space (Unicode's too, e.g. U+0085) made one space, ends trimmed.

    Short labels (a finding's name) go into CodeableConcept.text; a value made only of
    white space is no FHIR string, so callers leave it out when this returns ''.
    """
    return " ".join(fhir_strings(text).split())


def _quote(sentence: str) -> str:
    return '"' + _one_line(sentence) + '"'


def _evidence_parts(evidence: list[Evidence], report: RadiologyReport) -> tuple[list[dict[str, Any]], str | None]:
    """derivation-reference extensions (offsets into report.text()) and the quoted-sentences note."""
    exts = []
    for ev in evidence:
        if ev.start is None or ev.end is None or ev.end <= ev.start:
            continue
        exts.append({"url": codes.EXT_DERIVATION_REFERENCE, "extension": [
            {"url": "reference", "valueReference": source_reference(report)},
            {"url": "offset", "valueInteger": ev.start},
            {"url": "length", "valueInteger": ev.end - ev.start},
        ]})
    quoted = [_quote(ev.sentence) for ev in evidence if fhir_strings(ev.sentence).strip()]
    note = ("Evidence from the report: " + " ".join(quoted)) if quoted else None
    return exts, note


def _base(report: RadiologyReport, what: str, code: dict[str, Any], *, kind: ResultKind, demo: bool,
          performer: ModelIdentity) -> dict[str, Any]:
    # The profile of this kind of result (profiles.py): what a receiver may check the Observation against.
    meta: dict[str, Any] = {"profile": [profile_for(kind)], "security": [codes.AIAST]}
    if demo:
        meta["tag"] = [coding(codes.RADLITE_CS, codes.DEMO_TAG_CODE, DEMO_NOTICE)]
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": meta,
        "identifier": [result_identifier(report, what)],
        "status": codes.OBSERVATION_STATUS,
        "category": [codes.IMAGING_CATEGORY],
        "code": code,
    }
    if report.patient_id:
        obs["subject"] = patient_reference(report.patient_id)
    effective = _fhir_datetime(report.effective)
    if effective:
        obs["effectiveDateTime"] = effective
    obs["issued"] = _now()
    # Who answered, by name and (alternate-reference, AI Transparency IG) as the Device with the model's
    # id or full GGUF sha256, so that even an Observation outside a Bundle names the exact model file.
    obs["performer"] = [{"extension": [_device_extension(_logical_device_ref(performer))], "display": performer.display}]
    return obs


def _device_extension(reference: dict[str, Any]) -> dict[str, Any]:
    """Observation.performer cannot be a Device in R4: the alternate-reference extension carries it."""
    return {"url": codes.EXT_ALTERNATE_REFERENCE, "valueReference": reference}


def _finish(obs: dict[str, Any], *, evidence: list[Evidence], report: RadiologyReport, demo: bool,
            confidence: float | None = None, extra_notes: Iterable[str] = ()) -> dict[str, Any]:
    exts, evidence_note = _evidence_parts(evidence, report)
    if confidence is not None:
        exts.insert(0, {"url": codes.EXT_AI_CONFIDENCE, "valueDecimal": round(float(confidence), 4)})
    if exts:
        obs["extension"] = exts
    notes = [n for n in (evidence_note, *extra_notes) if n]
    if demo:
        notes.append(f"Produced by a {DEMO_NOTICE}.")
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    fhir_strings(obs)  # before the narrative, which repeats the values
    obs["text"] = _narrative(obs, demo)
    return obs


def _narrative(obs: dict[str, Any], demo: bool) -> dict[str, str]:
    """A short generated narrative (dom-6), so an EHR that shows only text still shows the claim."""
    what = obs["code"].get("text") or "Result"
    value = obs.get("valueCodeableConcept", {}).get("text") or obs.get("valueString")
    if value is None and "component" in obs:
        value = "; ".join(f"{c['code'].get('text')}: {_component_value(c)}" for c in obs["component"])
    if value is None and "dataAbsentReason" in obs:
        value = obs["dataAbsentReason"].get("text", "not applicable")
    line = f"{what}: {value}" if value else what
    flags = " (AI-generated, preliminary" + (f"; {DEMO_NOTICE})" if demo else ")")
    return _div(line + flags)


def _component_value(comp: dict[str, Any]) -> str:
    if "valueCodeableConcept" in comp:
        return str(comp["valueCodeableConcept"].get("text"))
    if "valueQuantity" in comp:
        return f"{comp['valueQuantity']['value']} {comp['valueQuantity']['unit']}"
    return str(comp.get("valueString", ""))


# ---- one Observation per task result ----------------------------------------------------


def _task_coding(task: TaskName) -> dict[str, str]:
    spec = CATALOG[task]
    return coding(spec.fhir_system, spec.fhir_code, spec.fhir_display)


def _rads(value: RadsValue, task_coding: dict[str, str]) -> dict[str, Any]:
    if value.unlisted and value.system:
        return _rads_unlisted(value, task_coding)
    if not value.applicable or not value.system or not value.category:
        return {"code": concept(task_coding, text="RADS assessment"),
                "dataAbsentReason": concept(coding(codes.DATA_ABSENT_REASON, "not-applicable", "Not Applicable"),
                                            text=value.label)}
    system, category = value.system, value.category.strip().replace(" ", "-")
    standard = codes.RADS_CODE.get(system)
    code = concept(*(c for c in (standard, task_coding) if c), text=f"{system} assessment")
    values = []
    if system == "BI-RADS" and category in codes.BIRADS_SNOMED:
        values.append(coding(codes.SNOMED, *codes.BIRADS_SNOMED[category]))
    values.append(local(codes.rads_code(system, category), value.label))
    # The text reads as the report writes it ('Lung-RADS 2S'); the codings stay the category alone.
    out: dict[str, Any] = {"code": code, "valueCodeableConcept": concept(*values, text=value.full_label)}
    if rads_high_suspicion(system, category):
        out["interpretation"] = [codes.ABNORMAL_INTERPRETATION]
    if value.modifiers:
        out["component"] = [_rads_modifier_component(value, m) for m in value.modifiers]
    return out


def _rads_unlisted(value: RadsValue, task_coding: dict[str, str]) -> dict[str, Any]:
    """A category the report states but its system does not define ('BI-RADS 7'): the report's words as
    valueCodeableConcept.text with no coding (R4 allows a text-only concept), no interpretation (no
    guideline row says how suspicious it is) and a note saying why. A model's differing answer stays
    in the disagreement note, never in the value."""
    system = value.system or ""
    code = concept(*(c for c in (codes.RADS_CODE.get(system), task_coding) if c), text=f"{system} assessment")
    return {"code": code, "valueCodeableConcept": concept(text=value.label),
            "_notes": [f"Not a category RadLite knows: the report states {value.label}, which is not a {system} "
                       "category. The report's words are given uncoded; no guideline management applies. "
                       "Check the report."]}


def _rads_for_study(body: dict[str, Any], result: TaskResult, value: RadsValue,
                    report: RadiologyReport) -> dict[str, Any]:
    """A model-only RADS system that cannot apply to the study (BI-RADS on a liver MRI) is kept, as the
    model's answer, but not flagged abnormal, and a note says why (as its card does)."""
    from adapters.cds.regions import misfit_regions  # adapters.cds imports this module

    regions = misfit_regions(result.decided_by, value.system, report)
    if regions is None:
        return body
    body.pop("interpretation", None)
    body["_notes"] = [f"{value.system} does not apply to this study (region: {regions}) and the report states "
                      "no such category: not flagged abnormal; read the report's own assessment."]
    return body


def rads_high_suspicion(system: str, category: str) -> bool:
    """True for a category of high suspicion (the guideline table's `warning` rows, rads-management.md).

    Such a category gets interpretation A (abnormal, v3-ObservationInterpretation, spec §2.4); the
    others get none: "probably benign" or "incomplete" is not a normal result either, and no code
    the spec verified says so. TI-RADS TR4 is size-dependent, so only TR5 is flagged. A category
    the table lacks is flagged when a subcategory it may mean is ('CAD-RADS 4': 4A, 4B).
    """
    # Imported here: adapters.cds imports this module (cards suggest our Observations).
    from adapters.cds.guidelines import high_suspicion

    return high_suspicion(system, category)


def _rads_modifier_component(value: RadsValue, modifier: str) -> dict[str, Any]:
    """One modifier as an Observation.component: R4 value[x] holds one category, so modifiers go beside it."""
    system = value.system or ""
    if system == "NI-RADS":
        site, category = modifier.split(" ", 1)
        code, display = codes.NI_RADS_SITE_CODES[site]
        label = f"NI-RADS {category}"
        return {"code": concept(local(code, display), text=display),
                "valueCodeableConcept": concept(local(codes.rads_code(system, category), label), text=label)}
    meaning = f"{system} {modifier}: {value.modifier_meaning(modifier)}"
    return {"code": concept(local(codes.RADS_MODIFIER_CODE), text=f"{system} modifier"),
            "valueCodeableConcept": concept(local(codes.rads_modifier_code(system, modifier), meaning), text=meaning)}


def _tnm(axis: str, stage: str | None, task_coding: dict[str, str], absent_text: str) -> dict[str, Any]:
    category = codes.CN_CATEGORY if axis == "N" else codes.CM_CATEGORY
    code = concept(*category, *(() if task_coding in category else (task_coding,)),
                   text=f"Clinical {axis} category")
    out: dict[str, Any] = {"code": code, "method": codes.AJCC_8TH_METHOD}
    if stage is None:
        # Nodes involved but the N category is not stated: no AJCC value can be given.
        out["valueCodeableConcept"] = concept(local("n-involvement"), text=absent_text)
        return out
    cstage = f"c{stage}"
    values = []
    if cstage in codes.TNM_SNOMED:
        values.append(coding(codes.SNOMED, *codes.TNM_SNOMED[cstage]))
    values.append(coding(codes.AJCC, cstage, cstage))
    out["valueCodeableConcept"] = concept(*values, text=cstage)
    return out


_STATE_CODINGS = {
    "positive": (local("positive"),),
    "negative": (codes.SCT_NEGATIVE, local("negative")),
    "uncertain": (codes.SCT_UNCERTAIN, local("uncertain")),
}


def chexpert_as_reported(value: ChexpertValue, report_text: str) -> tuple[dict[str, str], list[str]]:
    """The labels the report speaks of, and the CheXpert labels it never mentions.

    A 14-bullet answer prints every label, so a label the report never names comes back
    "negative" (grounding sets it so, as the evaluation layout does). CheXpert keeps "not
    mentioned" (blank) apart from "negative" (0): a clinician must not read "no fracture"
    into a report that says nothing of bones. A positive or uncertain label is always kept.
    """
    named = mentioned_labels(report_text)
    stated = {lbl: state for lbl, state in value.labels.items()
              if lbl == "no finding" or lbl in named or state != "negative"}
    silent = [lbl for lbl in CHEXPERT_LABELS if lbl != "no finding" and lbl not in stated]
    return stated, silent


def _chexpert(value: ChexpertValue, task_coding: dict[str, str], report: RadiologyReport) -> dict[str, Any]:
    labels, silent = chexpert_as_reported(value, report.text())
    order = [lbl for lbl in CHEXPERT_LABELS if lbl in labels]
    order += sorted(lbl for lbl in labels if lbl not in CHEXPERT_LABELS)
    components = [{
        "code": concept(local(f"chexpert-{codes.slug(lbl)}", lbl.capitalize()), text=lbl),
        "valueCodeableConcept": concept(*_STATE_CODINGS[labels[lbl]], text=labels[lbl]),
    } for lbl in order]
    out: dict[str, Any] = {"code": concept(task_coding, text=task_coding.get("display"))}
    if components:
        out["component"] = components
    if silent:
        out["_notes"] = [f"Not mentioned in the report (no component, not negative): {', '.join(silent)}."]
    return out


def _entities(value: EntitiesValue, task_coding: dict[str, str]) -> dict[str, Any]:
    groups = (("entity-anatomy", value.anatomy, None), ("entity-present", value.present, None),
              ("entity-absent", value.absent, codes.SCT_ABSENT), ("entity-uncertain", value.uncertain,
                                                                   codes.SCT_UNCERTAIN),
              ("entity-change", value.changes, None))
    components = []
    for code, terms, qualifier in groups:
        for term in terms:
            if not fhir_strings(term).strip():  # blank once the control characters are gone
                continue
            comp: dict[str, Any] = {"code": concept(local(code), text=codes.LOCAL[code]), "valueString": fhir_strings(term).strip()}
            if qualifier:
                comp["interpretation"] = [concept(qualifier)]
            components.append(comp)
    out: dict[str, Any] = {"code": concept(task_coding, text=task_coding.get("display"))}
    if components:
        out["component"] = components
    else:  # an Observation with no value and no component would say nothing at all
        out["_notes"] = ["No entity was named in the answer (no component)."]
    return out


def _temporal(value: TemporalValue, task_coding: dict[str, str]) -> dict[str, Any]:
    components = []
    for change in value.changes:
        finding = _one_line(change.finding)
        if not finding:
            # A change of nothing named says nothing (a model can emit a blank finding), and a
            # blank CodeableConcept.text is not a valid FHIR string: left out, as blank entities are.
            continue
        values = [codes.SCT_STABLE] if change.change == "unchanged" else []
        values.append(local(change.change))
        # The component code is "change values" (SNOMED 288533004); its text names the finding.
        components.append({"code": concept(codes.SCT_CHANGE_VALUES, text=finding),
                           "valueCodeableConcept": concept(*values, text=change.change)})
    out: dict[str, Any] = {"code": concept(task_coding, text=task_coding.get("display"))}
    if components:
        out["component"] = components
    else:  # an Observation with no value and no component would say nothing at all
        out["_notes"] = ["No change against the prior imaging was named in the answer (no component)."]
    return out


def _coded_body(result: TaskResult, report: RadiologyReport) -> dict[str, Any]:
    """code / value[x] / component / method of one result, by the type of its value; `_notes` for the note."""
    task_coding = _task_coding(result.task)
    value = result.value
    if isinstance(value, RadsValue):
        return _rads_for_study(_rads(value, task_coding), result, value, report)
    if isinstance(value, NStageValue):
        stage = value.stage or (None if value.involvement else "N0")
        return _tnm("N", stage, task_coding, "Regional nodal involvement; N category not stated")
    if isinstance(value, MStageValue):
        return _tnm("M", value.stage, task_coding, "M category not stated")
    if isinstance(value, ChexpertValue):
        return _chexpert(value, task_coding, report)
    if isinstance(value, EntitiesValue):
        return _entities(value, task_coding)
    if isinstance(value, TemporalValue):
        return _temporal(value, task_coding)
    if isinstance(value, NliValue):
        return {"code": concept(task_coding, text=task_coding.get("display")),
                "valueCodeableConcept": concept(local(value.label), text=value.label)}
    text = fhir_strings(value.text if isinstance(value, TextValue) else value_text(value)).strip() or "(empty answer)"
    return {"code": concept(task_coding, text=task_coding.get("display")), "valueString": text}


def observation_for(result: TaskResult, report: RadiologyReport, *, demo: bool | None = None) -> dict[str, Any]:
    """One task result as a preliminary, AI-asserted FHIR R4 Observation (no id: the server assigns it).

    `demo` forces the demo marking (observations_for passes the analysis' flag); by
    default it follows the result (its model, or a demo model whose answer was overruled).
    """
    demo = result.demo if demo is None else demo
    body = _coded_body(result, report)
    notes: list[str] = body.pop("_notes", [])
    # QA may run several times on one report (one per question): its input hash tells them apart.
    what = result.task.value if result.task != TaskName.radiology_qa else f"{result.task.value}:{result.input_hash}"
    obs = _base(report, what, body.pop("code"), kind=result.task, demo=demo, performer=result.model)
    obs.update(body)
    if result.disagreement:
        d = result.disagreement
        # Which model file was overruled (id and full GGUF sha256): the Observation may travel without its Bundle.
        who = f" Model: {d.model.model_id} (sha256 {d.model.sha256 or 'not recorded'})." if d.model is not None else ""
        notes.append(f"Model and rules disagree: the model answered '{d.model_value}', "
                     f"the rules read '{d.rules_value}' in the report.{who} {d.note}".strip())
    if result.note:
        notes.append(result.note)
    if result.decided_by != "model":
        notes.append(f"Decided by: {result.decided_by} ({value_text(result.value).splitlines()[0][:200]}).")
    return _finish(obs, evidence=result.evidence, report=report, demo=demo, confidence=result.confidence,
                   extra_notes=notes)


def critical_observation(finding: CriticalFinding, report: RadiologyReport, *, demo: bool = False) -> dict[str, Any]:
    """A critical result found by the rules engine: interpretation AA (critical abnormal)."""
    code = concept(codes.CRITICAL_CODING, text=codes.LOCAL["critical-finding"])
    obs = _base(report, f"critical:{finding.term.lower()}", code, kind="critical-finding", demo=demo,
                performer=RULES_IDENTITY)
    obs["valueCodeableConcept"] = concept(local(f"critical-{codes.slug(finding.term)}", finding.term),
                                          text=finding.label)
    obs["interpretation"] = [codes.CRITICAL_INTERPRETATION]
    hedged = ["Suspected: the report hedges this finding; communicate it as a critical result and confirm."] \
        if finding.certainty == "uncertain" else []
    return _finish(obs, evidence=finding.evidence, report=report, demo=demo, extra_notes=hedged)


_DURATION = re.compile(r"^P(\d+)([YMWD])$")
_UCUM_UNIT = {"Y": ("a", "year"), "M": ("mo", "month"), "W": ("wk", "week"), "D": ("d", "day")}


def follow_up_observation(follow_up: FollowUp, report: RadiologyReport, index: int = 0, *,
                          demo: bool = False) -> dict[str, Any]:
    """A follow-up recommendation found by the rules engine, with procedure and interval components."""
    code = concept(*codes.FOLLOW_UP_CODINGS, text=codes.LOCAL["follow-up-recommendation"])
    key = hashlib.sha256(follow_up.text.encode("utf-8")).hexdigest()[:16]
    obs = _base(report, f"follow-up:{index}:{key}", code, kind="follow-up", demo=demo, performer=RULES_IDENTITY)
    obs["valueString"] = fhir_strings(follow_up.text).strip() or "(no text)"
    components: list[dict[str, Any]] = []
    if follow_up.procedure:
        components.append({"code": concept(local("follow-up-procedure"), text=codes.LOCAL["follow-up-procedure"]),
                           "valueString": follow_up.procedure})
    if follow_up.interval:
        comp: dict[str, Any] = {"code": concept(local("follow-up-interval"), text=codes.LOCAL["follow-up-interval"])}
        m = _DURATION.match(follow_up.interval)
        if m:
            unit, word = _UCUM_UNIT[m.group(2)]
            comp["valueQuantity"] = {"value": int(m.group(1)), "unit": word + ("s" if m.group(1) != "1" else ""),
                                     "system": codes.UCUM, "code": unit}
        else:
            comp["valueString"] = follow_up.interval
        components.append(comp)
    if components:
        obs["component"] = components
    return _finish(obs, evidence=follow_up.evidence, report=report, demo=demo)


def observations_for(analysis: Analysis) -> list[dict[str, Any]]:
    """All Observations of an analysis: task results, then critical findings, then follow-ups.

    When any result came from a demo model, every Observation carries the demo tag and note.
    """
    demo = analysis.demo
    report = analysis.report
    out = [observation_for(r, report, demo=demo) for r in analysis.results]
    out += [critical_observation(c, report, demo=demo) for c in analysis.facts.critical]
    out += [follow_up_observation(f, report, i, demo=demo) for i, f in enumerate(analysis.facts.follow_ups)]
    return out


# ---- Device and Provenance ---------------------------------------------------------------


def device_for(model: ModelIdentity) -> dict[str, Any]:
    """An AI Transparency IG style Device for one model (or the rules engine)."""
    identifiers = [{"system": codes.MODEL_ID_SYSTEM, "value": model.model_id}]
    if model.sha256:
        identifiers.append({"system": codes.MODEL_SHA256_SYSTEM, "value": model.sha256})
    kind = codes.AI_KIND_RULES if model.backend == "rules" else codes.AI_KIND_LLM
    device: dict[str, Any] = {
        "resourceType": "Device",
        "meta": {"security": [codes.AIAST]},
        "extension": [{"url": codes.EXT_AI_KIND, "valueCodeableConcept": kind}],
        "identifier": identifiers,
        "status": "active",
        "deviceName": [{"name": model.model_id, "type": "model-name"}],
        "type": codes.AI_DEVICE_TYPE,
        "property": [
            {"type": concept(local("model-backend"), text=codes.LOCAL["model-backend"]),
             "valueCode": [concept(text=model.backend)]},
            {"type": concept(local("model-role"), text=codes.LOCAL["model-role"]),
             "valueCode": [concept(text=model.role)]},
        ],
    }
    if model.sha256:
        device["property"].append({"type": concept(local("model-sha256"), text=codes.LOCAL["model-sha256"]),
                                   "valueCode": [concept(text=model.sha256)]})
    if model.version:
        device["version"] = [{"value": model.version}]
    if model.demo:
        device["meta"]["tag"] = [coding(codes.RADLITE_CS, codes.DEMO_TAG_CODE, DEMO_NOTICE)]
        device["note"] = [{"text": f"This is a {DEMO_NOTICE}."}]
    device["text"] = _div(f"AI device: {model.display}")
    return device


def _div(line: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(line)}</p></div>'}


def _models(analysis: Analysis) -> list[ModelIdentity]:
    """Distinct models behind the analysis, the rules engine included when it stated facts."""
    seen: dict[str, ModelIdentity] = {}
    for r in analysis.results:
        seen.setdefault(_device_key(r.model), r.model)
        if r.disagreement and r.disagreement.model:  # consulted, answer overruled: still an agent
            seen.setdefault(_device_key(r.disagreement.model), r.disagreement.model)
    if (analysis.facts.critical or analysis.facts.follow_ups) and _device_key(RULES_IDENTITY) not in seen:
        seen[_device_key(RULES_IDENTITY)] = RULES_IDENTITY
    return list(seen.values())


def provenance_for(analysis: Analysis, observation_refs: list[str], *,
                   device_refs: dict[str, str] | None = None) -> dict[str, Any]:
    """Provenance of the Observations: created by AI devices, from the source report.

    `observation_refs` are reference strings ("Observation/1" or "urn:uuid:..."); without
    `device_refs` (device key -> reference) the Devices are named by identifier.
    """
    agents = []
    for model in _models(analysis):
        ref = (device_refs or {}).get(_device_key(model))
        who = {"reference": ref, "type": "Device", "display": model.display} if ref else _logical_device_ref(model)
        agents.append({"type": codes.PERFORMER_TYPE, "role": [codes.AI_ROLE], "who": who})
    if not agents:
        agents.append({"type": codes.PERFORMER_TYPE, "role": [codes.AI_ROLE],
                       "who": _logical_device_ref(RULES_IDENTITY)})
    names = ", ".join(a["who"]["display"] for a in agents)
    return {
        "resourceType": "Provenance",
        "meta": {"security": [codes.AIAST]},
        "text": _div(f"Created by AI ({names}) from the radiology report; preliminary, not verified by a clinician."),
        "target": [{"reference": ref} for ref in observation_refs],
        "recorded": _now(),
        "reason": [concept(codes.AIAST)],
        "activity": codes.CREATE_ACTIVITY,
        "agent": agents,
        "entity": [{"role": "source", "what": source_reference(analysis.report)}],
    }


# ---- transaction Bundle ---------------------------------------------------------------------


def _if_none_exist(identifier: dict[str, str]) -> str:
    return f"identifier={identifier['system']}|{identifier['value']}"


def transaction_bundle(analysis: Analysis) -> dict[str, Any]:
    """A transaction Bundle: Devices, then Observations, then the Provenance.

    Devices and Observations are conditional creates on their stable identifiers, so a
    resend creates nothing new. Provenance has no identifier in R4, so it is a PUT to a
    client-chosen id derived from its content (update-as-create): a resend makes a new
    version of the same resource, never a second one.
    """
    entries: list[dict[str, Any]] = []
    device_refs: dict[str, str] = {}
    for model in _models(analysis):
        key = _device_key(model)
        device_refs[key] = _urn("Device/" + key)
        entries.append({"fullUrl": device_refs[key], "resource": device_for(model),
                        "request": {"method": "POST", "url": "Device",
                                    "ifNoneExist": _if_none_exist(_device_identifier(model))}})
    observations = observations_for(analysis)
    n_facts = len(analysis.facts.critical) + len(analysis.facts.follow_ups)
    performers = [r.model for r in analysis.results] + [RULES_IDENTITY] * n_facts
    obs_refs = []
    for obs, model in zip(observations, performers, strict=True):
        ident = obs["identifier"][0]
        full_url = _urn("Observation/" + ident["value"])
        obs_refs.append(full_url)
        performer = obs["performer"][0]
        performer["extension"] = [_device_extension({"reference": device_refs[_device_key(model)], "type": "Device",
                                                     "identifier": _device_identifier(model)})]
        entries.append({"fullUrl": full_url, "resource": obs,
                        "request": {"method": "POST", "url": "Observation", "ifNoneExist": _if_none_exist(ident)}})
    if obs_refs:
        provenance = provenance_for(analysis, obs_refs, device_refs=device_refs)
        seed = "\x1f".join(sorted(o["identifier"][0]["value"] for o in observations))
        prov_id = "radlite-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:40]
        provenance["id"] = prov_id
        entries.append({"fullUrl": _urn("Provenance/" + prov_id), "resource": provenance,
                        "request": {"method": "PUT", "url": f"Provenance/{prov_id}"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def merge_transactions(bundles: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """One transaction from several (e.g. one per report), each fullUrl once.

    A Device shared by several analyses has the same fullUrl in each (deterministic
    urn:uuid), and a Bundle must not hold two entries with one fullUrl (bdl-7).
    """
    seen: set[str] = set()
    entries = []
    for bundle in bundles:
        for entry in bundle.get("entry", []):
            if entry["fullUrl"] in seen:
                continue
            seen.add(entry["fullUrl"])
            entries.append(entry)
    order = {"Device": 0, "Observation": 1, "Provenance": 2}
    entries.sort(key=lambda e: order.get(e["resource"]["resourceType"], 3))
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}
