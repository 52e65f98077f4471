"""CDS Hooks cards from an Analysis: what a clinician sees about a radiology report.

One card per claim (critical result, RADS category with its guideline management,
staging, chest findings, report follow-up, discrepancy), each with the sentences it
rests on, who produced it (model identity, demo notice) and suggestions the EHR can
apply: a ServiceRequest for the follow-up the guideline table gives, and the
Observations for the chart. Pure functions: no settings, no database, no HTTP.
"""

from __future__ import annotations

import calendar
import html
import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

from adapters.cds.guidelines import (
    SOURCES,
    FollowUpOrder,
    Guideline,
    guideline_for,
    normalise_category,
    normalise_system,
    unlisted_subcategories,
)
from adapters.cds.models import (
    SUMMARY_LIMIT,
    Action,
    Card,
    Coding,
    Link,
    OverrideReason,
    Source,
    Suggestion,
    summary_length,
    truncate_summary,
)
from adapters.cds.regions import body_regions, misfit_regions, modality_of, order_text, regions_of_rads
from adapters.fhir import (
    RULES_IDENTITY,
    codes,
    critical_observation,
    fhir_strings,
    follow_up_observation,
    observation_for,
    patient_reference,
    source_reference,
)
from models.text import sentence_spans
from models.types import (
    DEMO_NOTICE,
    NOT_A_KNOWN_CATEGORY,
    Analysis,
    ChexpertValue,
    CriticalFinding,
    Disagreement,
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
)

__all__ = [
    "CardFor",
    "TOPIC_SYSTEM",
    "add_duration",
    "describe_interval",
    "follow_up_request",
    "order_cards",
    "ordered_side",
    "pending_card",
    "report_cards",
]

TOPIC_SYSTEM = "http://radlite.org/fhir/CodeSystem/cds-topic"
OVERRIDE_SYSTEM = "http://radlite.org/fhir/CodeSystem/cds-override-reason"
SNOMED = "http://snomed.info/sct"
SOURCE_LABEL = "RadLite CDS"
DUPLICATE_WINDOW = timedelta(days=30)
"""A study of the same region and modality this close to a drafted order is flagged as a possible duplicate."""
DISCREPANCY_MIN_CONFIDENCE = 0.5
"""An NLI 'contradiction' the model itself gives less than even odds raises no warning card (alert fatigue:
the demo model prints it for a third of all reports at 0.02-0.15); the Observation still carries it."""
DUPLICATE_WINDOW_RADIOGRAPH = timedelta(hours=24)
"""Radiographs are repeated daily on wards on purpose; only a same-day repeat is flagged."""

_TOPICS = {
    "critical": "Critical result", "rads": "RADS category and management", "staging": "TNM staging",
    "chest": "Chest radiograph findings", "follow-up": "Follow-up recommendation", "discrepancy": "Report discrepancy",
    "laterality": "Laterality discrepancy",
    "prior-imaging": "Prior relevant imaging", "duplicate-imaging": "Possible duplicate imaging",
    "analysis-pending": "Analysis in progress",
    "interval-change": "Interval change against the prior",
}


class CardFor(NamedTuple):
    """A card and the analysis it is about (None for cards about no single report)."""

    card: Card
    analysis: Analysis | None


# ---- small helpers ---------------------------------------------------------------------------


def _uuid() -> str:
    return str(uuid.uuid4())


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _md(text: str) -> str:
    """Report text made inert in markdown (no emphasis, links, headings or HTML from the report)."""
    text = " ".join(_CONTROL.sub(" ", text).split())  # a control character (BEL, NUL) is no text to show
    text = re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text)
    text = re.sub(r"^(\d+)\.", r"\1\\.", text)  # '3. item' would start a list
    return "\\" + text if text and text[0] in "#+-=" else text


def _quotes(evidence: list[Evidence], limit: int = 3) -> list[str]:
    seen: list[str] = []
    for ev in evidence:
        s = " ".join(ev.sentence.split())
        if s and s not in seen:
            seen.append(s)
    return [f"> {_md(s)}" for s in seen[:limit]]


NO_EVIDENCE = "_No sentence of the report was located for this result: check the report before acting on it._"


def _basis(evidence: list[Evidence], limit: int = 3) -> list[str]:
    """The quoted evidence sentences, or a plain statement that there are none (never a bare claim)."""
    return _quotes(evidence, limit) or [NO_EVIDENCE]


def _how_read(result: TaskResult) -> str | None:
    """The result's note (a value derived from described features, read from words, or what grounding
    left out): a clinician must see that a category was not written in the report."""
    return f"**How this was read:** {_md(result.note)}" if result.note else None


def _report_states(result: TaskResult) -> bool:
    """True when the result's value is written in the report itself and a model answered otherwise.

    Then the report's statement stands (the ensemble keeps the model's answer as a disagreement,
    `models/ensemble.py`), and the model's differing guess says nothing about urgency. A value
    derived from described features is not a statement: there, the model's answer may be right.
    """
    d = result.disagreement
    if d is None:
        return False
    if isinstance(result.value, ChexpertValue):
        return True  # labels disagree only where the report states them, and the stated ones are kept
    return d.note.startswith("the report states")


def _escalates(result: TaskResult) -> bool:
    """A disagreement raises a card to `warning` unless the report's own statement settled it."""
    return result.disagreement is not None and not _report_states(result)


def _report_date(report: RadiologyReport) -> date | None:
    when = report.effective or report.issued
    return when.date() if when else None


def _exam(report: RadiologyReport) -> str:
    name = " ".join((report.procedure or report.modality or "Imaging study").split())
    when = _report_date(report)
    return f"{name} {when.isoformat()}" if when else name


_MIN_NAME = 12
"""Fewest characters of an exam's name worth showing in a summary ('MRI ABDOMEN…'); below it only the date."""


def _headline(report: RadiologyReport, claim: str, *, prefix: str = "", sep: str = ": ") -> str:
    """'<prefix><exam><sep><claim>' as a card summary (< 140 characters).

    The claim is what the card is for: when the whole does not fit, the exam's name is shortened
    first (its date kept), so a long procedure description ('MRI ABDOMEN WITHOUT AND WITH IV
    CONTRAST LIVER PROTOCOL ...') can never push the category or finding out of the summary.
    """
    claim = " ".join(claim.split())
    whole = f"{prefix}{_exam(report)}{sep}{claim}"
    if summary_length(" ".join(whole.split())) < SUMMARY_LIMIT:
        return truncate_summary(whole)
    name = " ".join((report.procedure or report.modality or "Imaging study").split())
    when = _report_date(report)
    date_part = f" {when.isoformat()}" if when else ""
    room = SUMMARY_LIMIT - 1 - summary_length(f"{prefix}{date_part}{sep}{claim}")
    if room >= _MIN_NAME:
        return truncate_summary(f"{prefix}{truncate_summary(name, room)}{date_part}{sep}{claim}")
    exam = date_part.strip() or name.split(" ")[0]
    return truncate_summary(f"{prefix}{exam}{sep}{claim}")


def _source(topic: str, *, demo: bool, url: str | None = None) -> Source:
    label = f"{SOURCE_LABEL} ({DEMO_NOTICE})" if demo else SOURCE_LABEL
    return Source(label=label, url=url, topic=Coding(system=TOPIC_SYSTEM, code=topic, display=_TOPICS[topic]))


def _who(model: ModelIdentity, decided_by: str | None = None, confidence: float | None = None) -> str:
    bits = [f"Read by {_md(model.display)}"]
    if decided_by:
        bits.append(f"decided by {decided_by}")
    if confidence is not None:
        bits.append(f"confidence {confidence:.2f}")
    return "_" + ", ".join(bits) + "._"


def _footer(demo: bool) -> list[str]:
    lines = ["_AI-generated from the signed report text; verify against the source report._"]
    if demo:
        lines.insert(0, f"**Produced by a {DEMO_NOTICE}.**")
    return lines


def _detail(*blocks: list[str] | str | None) -> str:
    parts: list[str] = []
    for b in blocks:
        if not b:
            continue
        parts.append(b if isinstance(b, str) else "\n".join(b))
    return "\n\n".join(parts)


def _links(report: RadiologyReport, fhir_server: str | None, extra: list[Link] | None = None) -> list[Link] | None:
    links = list(extra or [])
    if fhir_server and report.source_format == "fhir" and re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", report.report_id):
        links.append(Link(label="Source report (FHIR)", type="absolute",
                          url=f"{fhir_server.rstrip('/')}/DiagnosticReport/{report.report_id}"))
    return links or None


def _reasons(*pairs: tuple[str, str]) -> list[OverrideReason]:
    return [OverrideReason(system=OVERRIDE_SYSTEM, code=c, display=d) for c, d in pairs]


_NLP_ERROR = ("nlp-error", "Not supported by the report (NLP error)")


def _chart_suggestion(label: str, observations: list[dict[str, Any]]) -> Suggestion:
    actions = [Action(type="create", description=f"Add the preliminary AI-read result '{_obs_label(o)}' to the chart",
                      resource=o) for o in observations]
    return Suggestion(label=label, uuid=_uuid(), isRecommended=False, actions=actions)


def _obs_label(obs: dict[str, Any]) -> str:
    value = (obs.get("valueCodeableConcept") or {}).get("text") or obs.get("valueString") or ""
    what = (obs.get("code") or {}).get("text") or "Observation"
    return f"{what}: {value}"[:120] if value else what[:120]


# ---- dates and ISO 8601 durations ------------------------------------------------------------

_DURATION = re.compile(r"^P(\d+)([YMWD])$")


def add_duration(start: date, iso: str) -> date:
    """`start` plus a simple ISO 8601 duration (P6M, P1Y, P8W, P10D); month ends are clamped."""
    m = _DURATION.match(iso)
    if not m:
        raise ValueError(f"unsupported duration {iso!r}")
    n, unit = int(m.group(1)), m.group(2)
    if unit == "D":
        return start + timedelta(days=n)
    if unit == "W":
        return start + timedelta(weeks=n)
    months = n * 12 if unit == "Y" else n
    y, mo = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, mo + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


_UNIT_WORD = {"Y": "year", "M": "month", "W": "week", "D": "day"}


def _words(iso: str) -> str:
    m = _DURATION.match(iso)
    if not m:
        return iso
    n = int(m.group(1))
    return f"{n} {_UNIT_WORD[m.group(2)]}" + ("s" if n != 1 else "")


def describe_interval(earliest: str | None, latest: str | None) -> str:
    """'in 6 months (P6M)', 'in 1-3 months (P1M-P3M)', 'within 3 months (P3M)', or '' when unset."""
    if earliest and latest and earliest != latest:
        a, b = _DURATION.match(earliest), _DURATION.match(latest)
        if a and b and a.group(2) == b.group(2):
            return f"in {a.group(1)}-{_words(latest)} ({earliest}-{latest})"
        return f"in {_words(earliest)} to {_words(latest)} ({earliest}-{latest})"
    if earliest:
        return f"in {_words(earliest)} ({earliest})"
    if latest:
        return f"within {_words(latest)} ({latest})"
    return ""


def follow_up_request(order: FollowUpOrder, report: RadiologyReport, patient_id: str, *, reason: str,
                      demo: bool) -> dict[str, Any]:
    """A draft FHIR R4 ServiceRequest (intent proposal) for a recommended follow-up."""
    sr: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"text": order.text},
        "subject": patient_reference(patient_id),
    }
    if order.kind == "imaging":
        sr["category"] = [{"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}]
    base = _report_date(report)
    if base is not None and (order.earliest or order.latest):
        start = add_duration(base, order.earliest) if order.earliest else base
        end = add_duration(base, order.latest) if order.latest else start
        if start == end:
            sr["occurrenceDateTime"] = start.isoformat()
        else:
            sr["occurrencePeriod"] = {"start": start.isoformat(), "end": end.isoformat()}
    sr["reasonReference"] = [source_reference(report)]
    note = f"{reason}. Proposed by {SOURCE_LABEL} from the report {_exam(report)}."
    if demo:
        note += f" Produced by a {DEMO_NOTICE}."
    sr["note"] = [{"text": note}]
    sr["meta"] = _order_meta(demo)
    fhir_strings(sr)
    sr["text"] = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>'
                  + html.escape(f"Proposed (draft): {sr['code']['text']}. {sr['note'][0]['text']}") + "</p></div>"}
    return sr


def _order_meta(demo: bool) -> dict[str, Any]:
    """A proposed order is AI-asserted (AIAST) and, from a demo model, tagged as such like our Observations."""
    meta: dict[str, Any] = {"security": [codes.AIAST]}
    if demo:
        meta["tag"] = [codes.coding(codes.RADLITE_CS, codes.DEMO_TAG_CODE, DEMO_NOTICE)]
    return meta


def _due(order: FollowUpOrder | None, report: RadiologyReport) -> date | None:
    base = _report_date(report)
    if order is None or base is None or not (order.earliest or order.latest):
        return None
    return add_duration(base, order.latest or order.earliest or "P0D")


# ---- per-report cards ------------------------------------------------------------------------


_SIZE = re.compile(r"(\d+(?:\.\d+)?)(?:\s*[x×]\s*(\d+(?:\.\d+)?))?(?:\s*[x×]\s*(\d+(?:\.\d+)?))?\s*(mm|cm)\b", re.I)


def largest_size_cm(evidence: list[Evidence]) -> float | None:
    """Largest dimension written in the evidence sentences ('1.6 x 1.2 cm', '9 mm'), in cm."""
    best: float | None = None
    for ev in evidence:
        for m in _SIZE.finditer(ev.sentence):
            dims = [float(g) for g in m.groups()[:3] if g]
            size = max(dims) / (10 if m.group(4).lower() == "mm" else 1)
            best = size if best is None else max(best, size)
    return best


def _sentence_case_inner(text: str) -> str:
    """Lower-case the first letter for use mid-sentence, but leave acronyms ("US-guided", "CT") alone."""
    if not text or (len(text) > 1 and text[1].isupper()):
        return text
    return text[0].lower() + text[1:]


_ISO_NOTE = re.compile(r"\s*\(P\d[^)]*\)")
_NONE_BECAUSE = re.compile(r"(?i)^none \((.+)\)$")


def _advice(g: Guideline | None) -> str:
    """The summary's short advice: the order and when, else what the table says (never a bare 'none')."""
    if g is None:
        return "see report"
    if g.order is not None:
        when = describe_interval(g.order.earliest, g.order.latest).split(" (")[0]
        advice = f"{_sentence_case_inner(g.order.text)} {when}".strip()
        return f"consider {advice}" if g.tentative else advice
    follow = _ISO_NOTE.sub("", g.follow_up).strip()
    if follow.lower() == "none":
        return f"{_sentence_case_inner(g.meaning)}, no follow-up"
    if g.condition is None and " if " in follow:  # TI-RADS without a measured nodule: thresholds, not a schedule
        return f"size-dependent: {_sentence_case_inner(g.management)}"
    because = _NONE_BECAUSE.match(follow)
    if because:
        return f"no further testing; {because.group(1)}"
    return re.sub(r"(?i)^none,", "no follow-up,", follow)


_CAD_MODIFIERS = re.compile(r"(?i)CAD-?RADS\s*(?:[0-5][AB]?|N)\s*((?:/\s*(?:P[1-4]|HRP|I[+\-±]|S|G|E|N|V)\b[+\-±]?)+)")


def _cad_modifiers(value: RadsValue, evidence: list[Evidence]) -> str | None:
    """CAD-RADS 2.0 modifiers (/P2, /HRP, /I+, /S): named, not part of the category.

    The typed modifiers come first; the evidence is re-read only for a value without any
    (an analysis stored before RadsValue carried them).
    """
    if value.system != "CAD-RADS":
        return None
    found: list[str] = list(value.modifiers)
    for ev in evidence if not found else []:
        for m in _CAD_MODIFIERS.finditer(ev.sentence):
            found += [x.strip().upper() for x in m.group(1).split("/") if x.strip() and x.strip().upper() not in found]
    if not found:
        return None
    favours = " I+ or HRP favours ICA/intensified therapy." if {"HRP", "I+"} & set(found) else ""
    return f"**Modifiers stated:** {_md(', '.join(found))} (not part of the category).{favours}"


_S_MODIFIER = ("**S modifier:** a clinically significant or potentially significant finding unrelated to lung "
               "cancer was flagged. It is not part of the Lung-RADS category and needs management per its own "
               "guideline (Lung-RADS table: \"as appropriate to the finding\", follow-up \"per finding\"); "
               "the finding itself may be a critical result.")
"""rads-management.md §2, row 'S (modifier)': management 'As appropriate to the finding', follow-up 'per finding'."""


def _modifier_block(value: RadsValue) -> str | None:
    """What the typed modifiers mean for management: Lung-RADS S, NI-RADS per-site scores (CAD-RADS: _cad_modifiers)."""
    if value.system == "Lung-RADS" and "S" in value.modifiers:
        return _S_MODIFIER
    if value.system == "NI-RADS" and value.modifiers:
        sites = ", ".join(value.modifiers)
        return f"**Scored by site:** {_md(sites)}; the category shown is the more suspicious of them."
    return None


def _rads_card(result: TaskResult, value: RadsValue, analysis: Analysis, patient_id: str,
               fhir_server: str | None) -> Card | None:
    report = analysis.report
    if value.unlisted:
        return _unlisted_card(result, value, analysis, fhir_server)
    if not (value.applicable and value.system and value.category):
        return None
    demo = analysis.demo
    size = largest_size_cm(result.evidence) if value.system == "TI-RADS" else None
    g = guideline_for(value.system, value.category, size_cm=size)
    unlisted = [] if g else unlisted_subcategories(value.system, value.category)
    warns_if = [u.category for u in unlisted if u.indicator == "warning"]
    indicator = g.indicator if g else ("warning" if warns_if else "info")
    if _escalates(result) and _model_category_warns(result):
        indicator = "warning"  # the category was not written: a model reading it as suspicious may be right
    if result.note and NOT_A_KNOWN_CATEGORY in result.note:
        indicator = "warning"  # the report also states a category RadLite cannot read: it must be checked
    misfit = _misfit_study(result, value, report)
    if misfit:
        return _misfit_card(result, value, analysis, misfit, fhir_server)
    stated = _stated_otherwise(result, value)
    if stated:
        return _stated_otherwise_card(result, value, analysis, stated, fhir_server)
    order = g.order if g else None
    when = describe_interval(order.earliest, order.latest) if order else ""
    summary = _headline(report, f"{value.full_label}; {_advice(g)}")
    blocks: list[list[str] | str | None] = [f"**{_md(value.full_label)}** in {_md(_exam(report))}"
                                            + (f" (accession {_md(report.accession)})" if report.accession else "")]
    blocks.append(_basis(result.evidence))
    blocks.append(_cad_modifiers(value, result.evidence))
    blocks.append(_modifier_block(value))
    if g is not None:
        guide = [f"**Guideline ({g.reference}):** {g.meaning}. {g.management}.",
                 f"Follow-up: {g.follow_up}." + (f" Applies to: {g.condition}." if g.condition else "")]
        if g.actionable:
            guide.append("Actionable finding (ACR): track the follow-up until it is done.")
        blocks.append(guide)
    else:
        blocks.append(f"No guideline row for {_md(value.label)}; follow the report and local policy."
                      + (f" It may mean {_md(', '.join(u.category for u in unlisted))}; of these "
                         f"{_md(', '.join(warns_if))} {'is' if len(warns_if) == 1 else 'are'} of high suspicion, so this "
                         "card is a warning. No order is proposed." if warns_if else ""))
    recs = [f for f in analysis.facts.follow_ups if f.text.strip()]
    if recs:
        blocks.append(["**The report recommends** (the report and local policy win over the table):",
                       *[f"> {_md(f.text)}" for f in recs]])  # every one: no follow-up card is made for them
    if result.disagreement is not None:
        d = result.disagreement
        blocks.append(f"**Discrepancy:** the model answered {_md(d.model_value)}, the rules read "
                      f"{_md(d.rules_value)} in the report{_overruled_by(d)}. {_md(d.note)}")
    blocks.append(_how_read(result))
    blocks.append(_who(result.model, result.decided_by, result.confidence))
    blocks.append(_footer(demo))
    suggestions: list[Suggestion] = []
    if g is not None and order is not None:
        reason = f"{g.citation}: {g.follow_up}"
        sr = follow_up_request(order, report, patient_id, reason=reason, demo=demo)
        verb = "Consider ordering" if g.tentative else "Order"
        suggestions.append(Suggestion(
            label=truncate_summary(f"{verb} {order.text} {when} per {g.citation}".replace("  ", " "), 200),
            uuid=_uuid(), isRecommended=not g.tentative,
            actions=[Action(type="create", description=f"Create a draft follow-up order: {order.text}", resource=sr)],
        ))
    suggestions.append(_chart_suggestion(f"Add {value.full_label} to the chart (preliminary)",
                                         [observation_for(result, report, demo=demo)]))
    name, url = SOURCES.get(value.system, (value.system, None))
    extra = [Link(label=f"{name} reference", url=url, type="absolute")] if url else None
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator=indicator,
        source=_source("rads", demo=demo, url=url), suggestions=suggestions, selectionBehavior="any",
        overrideReasons=_reasons(("already-scheduled", "Follow-up already ordered or scheduled"),
                                 ("report-or-policy-differs", "Report or local policy advises other management"),
                                 ("patient-declined", "Patient declined"), _NLP_ERROR),
        links=_links(report, fhir_server, extra),
    )


_SHOWN_RADS = re.compile(r"^(?P<system>[A-Za-z][A-Za-z-]*?RADS)\s+(?P<category>\S.*)$|^(?P<lr>LR-\S.*)$",
                         re.IGNORECASE)


def _model_category_warns(result: TaskResult) -> bool:
    """True when the overruled model answer ('PI-RADS 4', 'LR-5') is a `warning` category of the table."""
    d = result.disagreement
    m = _SHOWN_RADS.match(d.model_value.strip()) if d else None
    if m is None:
        return False
    if m.group("lr"):
        system, category = "LI-RADS", m.group("lr")
    else:
        system, category = m.group("system"), m.group("category")
    g = guideline_for(system, re.sub(r"\s*\(.*\)$", "", category))  # 'NI-RADS 3 (primary 3)': sites aside
    return g is not None and g.indicator == "warning"


def _misfit_study(result: TaskResult, value: RadsValue, report: RadiologyReport) -> str | None:
    """The study's body regions when a model-only RADS system cannot apply to them (regions.misfit_regions)."""
    return misfit_regions(result.decided_by, value.system, report)


def _misfit_card(result: TaskResult, value: RadsValue, analysis: Analysis, regions: str,
                 fhir_server: str | None) -> Card:
    """A warning instead of guideline advice: the model's RADS system does not fit the study."""
    report, demo = analysis.report, analysis.demo
    summary = _headline(report, f"model read {value.full_label}, which does not apply to "
                               "this study; check the report")
    applies = ", ".join(sorted(regions_of_rads(value.system)))
    blocks: list[list[str] | str | None] = [
        f"**{_md(value.full_label)} does not fit this study** ({_md(_exam(report))}, region: "
        f"{_md(regions)}). {_md(value.system or 'This system')} applies to {_md(applies)} "
        "imaging; the report does not state this category. No guideline management is proposed: "
        "read the report's own assessment.",
        _basis(result.evidence),
        _how_read(result),
        _who(result.model, result.decided_by, result.confidence),
        _footer(demo),
    ]
    return Card(uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="warning",
                source=_source("rads", demo=demo),
                overrideReasons=_reasons(("reviewed-consistent", "Reviewed: the category applies"),
                                         _NLP_ERROR),
                links=_links(report, fhir_server))


_STATED = re.compile(
    r"(?i)\b(BI|Lung|LI|TI|PI|O|NI|CAD|VI|GB)[\s-]?RADS(?:\s+(?:US|MRI))?[\s:]*(?:category|cat\.?)?[\s:]*"
    r"(LR-TR[\s-]+[A-Za-z]+|LR-[A-Z0-9]+|TR\s?\d|\d[A-Za-z]?|N)\b")


def _stated_otherwise(result: TaskResult, value: RadsValue) -> list[str]:
    """Categories of the same system the evidence states when a model-only value is none of them.

    The rules leave a category they cannot place (e.g. 'BI-RADS 7', no such category) to the
    model, which then answers one of its own: the report's explicit statement must not be
    replaced silently by a guess, nor a guideline order proposed on it.
    """
    if result.decided_by != "model" or not value.system or not value.category:
        return []
    system = normalise_system(value.system) or value.system
    found: list[str] = []
    for ev in result.evidence:
        for m in _STATED.finditer(ev.sentence):
            if normalise_system(m.group(1) + "-RADS") == system:
                found.append(normalise_category(system, m.group(2).replace(" ", "")))
    own = normalise_category(system, value.category)
    return [] if not found or own in found else list(dict.fromkeys(found))


def _stated_otherwise_card(result: TaskResult, value: RadsValue, analysis: Analysis, stated: list[str],
                           fhir_server: str | None) -> Card:
    """A warning instead of guideline advice: the report states another category than the model read."""
    report, demo = analysis.report, analysis.demo
    said = ", ".join(f"{value.system} {c}" for c in stated)
    summary = _headline(report, f"report states {said}, model read {value.full_label}; check the report")
    known = [c for c in stated if guideline_for(value.system or "", c)]
    blocks: list[list[str] | str | None] = [
        f"**The report states {_md(said)}; the model read {_md(value.full_label)}.** The report's statement "
        "stands" + ("" if known else " but has no row in the guideline table")
        + ": no guideline management is proposed from the model's reading. Read the report's own assessment.",
        _basis(result.evidence),
        _how_read(result),
        _who(result.model, result.decided_by, result.confidence),
        _footer(demo),
    ]
    return Card(uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="warning",
                source=_source("rads", demo=demo),
                overrideReasons=_reasons(("reviewed-consistent", "Reviewed: the category is correct"), _NLP_ERROR),
                links=_links(report, fhir_server))


def _unlisted_card(result: TaskResult, value: RadsValue, analysis: Analysis, fhir_server: str | None) -> Card:
    """A warning instead of guideline advice: the report states a category its system does not define.

    The report's words stand (models/ensemble.py); no guideline row, order or chart suggestion can rest
    on them, and a model's differing category is shown as what it is, never as the answer.
    """
    report, demo = analysis.report, analysis.demo
    system = value.system or "RADS"
    summary = _headline(report, f"report states {value.label}, not a {system} category; "
                               "check the report")
    blocks: list[list[str] | str | None] = [
        f"**The report states {_md(value.label)}, which is not a {_md(system)} category RadLite knows.** "
        "The report's statement stands as written: no guideline management or order is proposed from it or "
        "from a model's reading. Read the report's own assessment and confirm the intended category with "
        "the reporting radiologist.",
        _basis(result.evidence),
        _discrepancy(result),
        _how_read(result),
        _who(result.model, result.decided_by, result.confidence),
        _footer(demo),
    ]
    name, url = SOURCES.get(system, (system, None))
    extra = [Link(label=f"{name} reference", url=url, type="absolute")] if url else None
    return Card(uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="warning",
                source=_source("rads", demo=demo, url=url),
                overrideReasons=_reasons(("reviewed-consistent", "Reviewed: the report's category is clear"),
                                         _NLP_ERROR),
                links=_links(report, fhir_server, extra))


_ACR_CATEGORY = {"pneumothorax": "1-2", "pulmonary embolism": "1-2"}
"""ACR actionable-finding category per critical term where it is not 1 (rads-management.md §12)."""


def _communication(found: list[CriticalFinding]) -> str:
    """How fast and how to communicate, by the ACR category of each finding (§11-12)."""
    cats = {c.term: _ACR_CATEGORY.get(c.term.lower(), "1") for c in found}
    rule = ("communicate to the treating team within minutes by direct (verbal) contact and document who was "
            "told, when and how.")
    if set(cats.values()) == {"1"}:
        return f"ACR actionable finding, category 1: {rule}"
    each = "; ".join(f"{_md(t)}: category {k}" for t, k in cats.items())
    return (f"ACR actionable finding ({each}). Category 1: {rule} Category 2: communicate within hours "
            "(e.g. a new large or enlarging pneumothorax, a new pulmonary embolism).")


def _critical_card(analysis: Analysis, patient_id: str, fhir_server: str | None) -> Card | None:
    found = analysis.facts.critical
    if not found:
        return None
    report, demo = analysis.report, analysis.demo
    terms = ", ".join(dict.fromkeys(c.label for c in found))
    summary = truncate_summary(f"Critical result: {terms} on {_exam(report)}")
    evidence = [ev for c in found for ev in c.evidence]
    hedged = [c.term for c in found if c.certainty == "uncertain"]
    blocks: list[list[str] | str | None] = [
        f"**Critical result:** {_md(terms)} in {_md(_exam(report))}.",
        _basis(evidence),
        (f"The report only suspects {_md(', '.join(hedged))} (hedged wording): a suspected critical result "
         "is communicated like a definite one." if hedged else None),
        _communication(found),
        _who(RULES_IDENTITY),
        _footer(demo),
    ]
    obs = [critical_observation(c, report, demo=demo) for c in found]
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="critical",
        source=_source("critical", demo=demo),
        suggestions=[_chart_suggestion("Add the critical result to the chart (preliminary)", obs)],
        selectionBehavior="any",
        overrideReasons=_reasons(("already-communicated", "Already communicated to the care team"),
                                 ("known-finding", "Known, chronic or expected finding"), _NLP_ERROR),
        links=_links(report, fhir_server),
    )


def _staging_card(analysis: Analysis, patient_id: str, fhir_server: str | None) -> Card | None:
    results = [r for r in analysis.results if isinstance(r.value, NStageValue | MStageValue)]
    if not results:
        return None
    report, demo = analysis.report, analysis.demo
    labels = []
    for r in results:
        v = r.value
        if isinstance(v, NStageValue):
            labels.append(v.stage or ("N+ (nodal involvement)" if v.involvement else "N0"))
        elif isinstance(v, MStageValue):
            labels.append(v.stage)
    summary = _headline(report, f"radiologic staging {', '.join(labels)} (AJCC 8th, preliminary)")
    blocks: list[list[str] | str | None] = [f"**Radiologic staging:** {_md(', '.join(labels))} (AJCC 8th edition, "
                                            "clinical N and M from imaging; to be confirmed by the care team)."]
    for r in results:
        blocks.append(_basis(r.evidence, 2))
        if r.disagreement is not None:
            blocks.append(_discrepancy(r))
        blocks.append(_how_read(r))
        blocks.append(_who(r.model, r.decided_by, r.confidence))
    blocks.append(_footer(demo))
    indicator = "warning" if any(_escalates(r) for r in results) else "info"
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator=indicator,
        source=_source("staging", demo=demo),
        suggestions=[_chart_suggestion("Add the staging results to the chart (preliminary)",
                                       [observation_for(r, report, demo=demo) for r in results])],
        selectionBehavior="any", overrideReasons=_reasons(("staged-elsewhere", "Staging documented elsewhere"),
                                                          _NLP_ERROR),
        links=_links(report, fhir_server),
    )


_CHEST_SKIP = {"no finding", "support devices"}


def _chest_card(analysis: Analysis, patient_id: str, fhir_server: str | None) -> Card | None:
    result = analysis.result(TaskName.abnormality_detection)
    if result is None or not isinstance(result.value, ChexpertValue):
        return None
    positive = [k for k, v in result.value.labels.items() if v == "positive" and k not in _CHEST_SKIP]
    uncertain = [k for k, v in result.value.labels.items() if v == "uncertain" and k not in _CHEST_SKIP]
    if not positive and not uncertain:
        return None
    report, demo = analysis.report, analysis.demo
    said = ", ".join(positive) + (f"; possible {', '.join(uncertain)}" if uncertain else "")
    summary = _headline(report, said.lstrip("; "))
    blocks: list[list[str] | str | None] = [
        f"**Findings:** {_md(', '.join(positive) or 'none definite')}"
        + (f". **Uncertain:** {_md(', '.join(uncertain))}" if uncertain else "") + ".",
        _basis(result.evidence),
        _who(result.model, result.decided_by, result.confidence),
        _footer(demo),
    ]
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks),
        indicator="warning" if _escalates(result) else "info", source=_source("chest", demo=demo),
        suggestions=[_chart_suggestion("Add the chest findings to the chart (preliminary)",
                                       [observation_for(result, report, demo=demo)])],
        selectionBehavior="any", overrideReasons=_reasons(("known-finding", "Known or expected finding"), _NLP_ERROR),
        links=_links(report, fhir_server),
    )


def _discrepancy(result: TaskResult) -> str | None:
    d = result.disagreement
    if d is None:
        return None
    return f"**Discrepancy:** model {_md(d.model_value)}, report {_md(d.rules_value)}{_overruled_by(d)}. {_md(d.note)}"


def _overruled_by(d: Disagreement) -> str:
    """' (model: <id> (<backend>, sha256 <12>))': which model file gave the answer the report's statement overruled."""
    return f" (model: {_md(d.model.display)})" if d.model is not None else ""


_WORSE: dict[str, str] = {"new": "New", "worsened": "Worsened"}
_OTHER: dict[str, str] = {"improved": "Improved", "resolved": "Resolved", "unchanged": "Unchanged"}


def _temporal_card(analysis: Analysis, patient_id: str, fhir_server: str | None) -> Card | None:
    """Interval change against the prior: a card only when a finding is new or worse (decision-relevant);
    improved, resolved and unchanged findings are listed on it but alone make none (info, as in the
    spec's patient-view use "interval change"; `warning` stays for high-suspicion categories)."""
    result = analysis.result(TaskName.temporal_comparison)
    if result is None or not isinstance(result.value, TemporalValue):
        return None
    changes = [(c.change, " ".join(c.finding.split())) for c in result.value.changes if c.finding.strip()]
    worse = [(k, f) for k, f in changes if k in _WORSE]
    if not worse:
        return None
    report, demo = analysis.report, analysis.demo
    said = "; ".join(f"{k} {f}" for k, f in worse)
    summary = _headline(report, f"interval change: {said}")
    listed = [f"- **{_WORSE[k]}:** {_md(f)}" for k, f in worse]
    listed += [f"- {_OTHER[k]}: {_md(f)}" for k, f in changes if k in _OTHER]
    prior = (report.comparison or "").strip()
    blocks: list[list[str] | str | None] = [
        "**Interval change against the prior study**" + (f" ({_md(prior)})" if prior else "") + ":",
        listed,
        "A new or worsening finding may need action: check the report's impression and recommendations.",
        _basis(result.evidence),
        _discrepancy(result),
        _how_read(result),
        _who(result.model, result.decided_by, result.confidence),
        _footer(demo),
    ]
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks),
        indicator="warning" if _escalates(result) else "info", source=_source("interval-change", demo=demo),
        suggestions=[_chart_suggestion("Add the interval changes to the chart (preliminary)",
                                       [observation_for(result, report, demo=demo)])],
        selectionBehavior="any",
        overrideReasons=_reasons(("known-finding", "Known or expected change"), _NLP_ERROR),
        links=_links(report, fhir_server),
    )


def _follow_up_card(follow_up: FollowUp, index: int, analysis: Analysis, patient_id: str,
                    fhir_server: str | None) -> Card:
    report, demo = analysis.report, analysis.demo
    what = follow_up.procedure or "Follow-up"
    when = describe_interval(follow_up.interval, follow_up.interval) if follow_up.interval else ""
    summary = _headline(report, f"report recommends {what.lower()} {when.split(' (')[0]}".strip())
    blocks: list[list[str] | str | None] = [
        f"**Follow-up recommended by the report:** {_md(what)} {_md(when)}".strip(),
        [f"> {_md(follow_up.text)}"],
        _quotes([ev for ev in follow_up.evidence if " ".join(ev.sentence.split()) != " ".join(follow_up.text.split())]),
        "Actionable finding (ACR): track the follow-up until it is done.",
        _who(RULES_IDENTITY),
        _footer(demo),
    ]
    suggestions = []
    if follow_up.procedure:
        order = FollowUpOrder(kind="imaging", text=follow_up.procedure, earliest=follow_up.interval,
                              latest=follow_up.interval)
        sr = follow_up_request(order, report, patient_id, reason="Recommended in the report", demo=demo)
        suggestions.append(Suggestion(label=truncate_summary(f"Order {follow_up.procedure} {when}".strip(), 200),
                                      uuid=_uuid(), isRecommended=True,
                                      actions=[Action(type="create", resource=sr,
                                                      description=f"Create a draft follow-up order: {follow_up.procedure}")]))
    suggestions.append(_chart_suggestion("Add the recommendation to the chart (preliminary)",
                                         [follow_up_observation(follow_up, report, index, demo=demo)]))
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="info",
        source=_source("follow-up", demo=demo), suggestions=suggestions, selectionBehavior="any",
        overrideReasons=_reasons(("already-scheduled", "Follow-up already ordered or scheduled"),
                                 ("not-indicated", "Not clinically indicated"), _NLP_ERROR),
        links=_links(report, fhir_server),
    )


def _discrepancy_card(analysis: Analysis, patient_id: str, fhir_server: str | None) -> Card | None:
    result = analysis.result(TaskName.radiology_nli)
    if result is None or not isinstance(result.value, NliValue) or result.value.label != "contradiction":
        return None
    if result.decided_by == "model" and result.confidence < DISCREPANCY_MIN_CONFIDENCE:
        return None  # the Observation keeps the label; a warning needs the model to think it likely
    report, demo = analysis.report, analysis.demo
    summary = _headline(report, "impression may contradict the findings; review the report")
    blocks: list[list[str] | str | None] = [
        "**Possible discrepancy:** the impression appears to contradict the findings of this report "
        "(ACR: a discrepancy that could harm if not acted on needs non-routine communication).",
        _basis(result.evidence),
        _who(result.model, result.decided_by, result.confidence),
        _footer(demo),
    ]
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="warning",
        source=_source("discrepancy", demo=demo),
        overrideReasons=_reasons(("reviewed-consistent", "Reviewed: report is consistent"), _NLP_ERROR),
        links=_links(report, fhir_server),
    )


# The side in an order or procedure name: "MG DIAGNOSTIC LEFT", "US BREAST LT", "XR KNEE RT 3V".
# A bare "L"/"R" is not read: "L SPINE" is lumbar.
_ORDER_SIDE = re.compile(r"\b(?:(?P<b>bilateral|bilat|both)|(?P<l>left|lt)|(?P<r>right|rt))\b", re.IGNORECASE)


def ordered_side(procedure: str | None) -> str | None:
    """left/right/bilateral named in the procedure (order) text; None when none or both are named."""
    sides = set()
    for m in _ORDER_SIDE.finditer(procedure or ""):
        sides.add("bilateral" if m.group("b") else "left" if m.group("l") else "right")
    return sides.pop() if len(sides) == 1 else None


def _laterality_card(analysis: Analysis, patient_id: str, fhir_server: str | None) -> Card | None:
    """Wrong-side check (ACR: a discrepancy that could harm): the order names one side and the
    report's index finding lies on the other. Bilateral on either side is no discrepancy."""
    report, demo = analysis.report, analysis.demo
    ordered, found = ordered_side(report.procedure), analysis.facts.laterality
    if ordered not in ("left", "right") or found not in ("left", "right") or ordered == found:
        return None
    text = report.impression or report.body()
    side = re.compile(rf"\b{found}\b", re.IGNORECASE)
    quotes = [Evidence(sentence=text[a:b]) for a, b in sentence_spans(text) if side.search(text[a:b])]
    summary = _headline(report, f"ordered {ordered.upper()}, report describes the {found.upper()} side")
    blocks: list[list[str] | str | None] = [
        f"**Laterality discrepancy:** the order names the **{ordered}** side; the report's index finding is on "
        f"the **{found}**. Check the order, the images and the report before acting on either side.",
        _basis(quotes, 2),
        _who(RULES_IDENTITY),
        _footer(demo),
    ]
    return Card(
        uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="warning",
        source=_source("laterality", demo=demo),
        overrideReasons=_reasons(("reviewed-consistent", "Reviewed: sides are correct"), _NLP_ERROR),
        links=_links(report, fhir_server),
    )


def report_cards(analysis: Analysis, *, patient_id: str, fhir_server: str | None = None) -> list[Card]:
    """Every card about one analysed report, most urgent first."""
    cards: list[Card] = []
    critical = _critical_card(analysis, patient_id, fhir_server)
    if critical:
        cards.append(critical)
    rads_has_order = False
    for r in analysis.results:
        if isinstance(r.value, RadsValue):
            card = _rads_card(r, r.value, analysis, patient_id, fhir_server)
            if card:
                cards.append(card)
                rads_has_order = rads_has_order or any(
                    a.resource and a.resource.get("resourceType") == "ServiceRequest"
                    for s in card.suggestions or [] for a in s.actions or [])
    for card in (_laterality_card(analysis, patient_id, fhir_server),
                 _discrepancy_card(analysis, patient_id, fhir_server), _staging_card(analysis, patient_id, fhir_server),
                 _chest_card(analysis, patient_id, fhir_server),
                 _temporal_card(analysis, patient_id, fhir_server)):
        if card:
            cards.append(card)
    if not rads_has_order:  # with a RADS order the report's recommendation is quoted on that card
        cards += [_follow_up_card(f, i, analysis, patient_id, fhir_server)
                  for i, f in enumerate(analysis.facts.follow_ups) if f.text.strip()]
    order = {"critical": 0, "warning": 1, "info": 2}
    return sorted(cards, key=lambda c: order[c.indicator])


def pending_card(reports: int, *, demo: bool = False) -> Card:
    """Info card for the reports whose analysis is still running when the hook budget ran out."""
    noun = "report" if reports == 1 else "reports"
    return Card(
        uuid=_uuid(),
        summary=f"Radiology analysis in progress for {reports} {noun}; open the chart again for the results",
        detail=_detail(f"The analysis of {reports} {noun} did not finish within the response time budget. "
                       "It keeps running and its results are stored; the next time this chart is opened they "
                       "are shown at once.", _footer(demo) if demo else None),
        indicator="info", source=_source("analysis-pending", demo=demo),
    )


# ---- imaging-order cards -----------------------------------------------------------------------


def _parse_when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 10:
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _planned(order: dict[str, Any], now: datetime) -> datetime:
    period = order.get("occurrencePeriod") or {}
    for v in (order.get("occurrenceDateTime"), period.get("start") if isinstance(period, dict) else None,
              order.get("authoredOn")):
        when = _parse_when(v)
        if when:
            return when
    return now


def _report_regions(analysis: Analysis) -> frozenset[str]:
    report = analysis.report
    rads = next((r.value for r in analysis.results if isinstance(r.value, RadsValue)), None)
    codes = [report.procedure_code] if report.procedure_code else []
    regions = body_regions(report.procedure or "", codes)
    return regions | regions_of_rads(rads.system if rads and rads.applicable else None)


def _report_time(report: RadiologyReport) -> datetime | None:
    when = report.effective or report.issued
    if when is None:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def is_imaging_order(order: dict[str, Any]) -> bool:
    text, codes = order_text(order)
    cats = " ".join(str(c.get("code")) + " " + str(c.get("display") or "") for cat in order.get("category") or []
                    if isinstance(cat, dict) for c in cat.get("coding") or [] if isinstance(c, dict))
    return "363679005" in cats or "imaging" in cats.lower() or modality_of(text) is not None


def _order_ref(order: dict[str, Any]) -> str | None:
    rid = order.get("id")
    return f"{order.get('resourceType', 'ServiceRequest')}/{rid}" if isinstance(rid, str) and rid else None


def _prior_basis(rads_result: TaskResult | None, analysis: Analysis) -> list[str] | None:
    """Evidence of what a prior card claims (its RADS category, else its critical results); None when it claims neither."""
    if rads_result is not None:
        return _basis(rads_result.evidence)
    critical = [ev for c in analysis.facts.critical for ev in c.evidence]
    return _basis(critical) if analysis.facts.critical else None


def _prior_card(order: dict[str, Any], analysis: Analysis, patient_id: str, fhir_server: str | None,
                planned: datetime) -> Card:
    report, demo = analysis.report, analysis.demo
    text, _ = order_text(order)
    rads_result = next((r for r in analysis.results if isinstance(r.value, RadsValue)
                        and r.value.applicable and r.value.system and (r.value.category or r.value.unlisted)), None)
    g: Guideline | None = None
    label = "no RADS category"
    if rads_result is not None and isinstance(rads_result.value, RadsValue) and rads_result.value.unlisted:
        v = rads_result.value
        label = f"report states {v.label} (not a {v.system} category)"
    elif rads_result is not None and isinstance(rads_result.value, RadsValue):
        v = rads_result.value
        label = v.full_label
        size = largest_size_cm(rads_result.evidence) if v.system == "TI-RADS" else None
        g = guideline_for(v.system or "", v.category or "", size_cm=size)
    critical = [c.label for c in analysis.facts.critical]
    indicator = "critical" if critical else (g.indicator if g else "info")
    open_items: list[str] = []
    if g is not None and g.order is not None:
        due = _due(g.order, report)
        open_items.append(("Consider: " if g.tentative else "")
                          + f"{g.order.text} {describe_interval(g.order.earliest, g.order.latest)}".strip()
                          + (f", due by {due.isoformat()}" if due else "") + f" ({g.citation})")
    open_items += [f"Report: {f.text}" for f in analysis.facts.follow_ups if f.text.strip()]
    findings = f"; critical: {', '.join(critical)}" if critical else ""
    summary = _headline(report, f"{label}{findings}"
                        + (f"; open follow-up: {open_items[0].split(' (')[0]}" if open_items else ""), prefix="Prior ")
    due = _due(g.order, report) if g and g.order else None
    fits = ""
    if due is not None:
        start = add_duration(_report_date(report) or due, g.order.earliest) if g and g.order and g.order.earliest \
            else _report_date(report)
        if start is not None and start - timedelta(days=31) <= planned.date() <= due + timedelta(days=31):
            fits = f"This order ({_md(text)}) falls in the recommended follow-up window."
    blocks: list[list[str] | str | None] = [
        f"**Prior relevant result for this order** ({_md(text)}): {_md(_exam(report))}, {_md(label)}{_md(findings)}.",
        _prior_basis(rads_result, analysis),
        (["**Open follow-up recommendations:**", *[f"- {_md(i)}" for i in open_items]] if open_items else None),
        (f"**Guideline ({g.reference}):** {g.management}." if g else None),
        fits or None,
        _who(rads_result.model, rads_result.decided_by, rads_result.confidence) if rads_result else _who(RULES_IDENTITY),
        _footer(demo),
    ]
    return Card(uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator=indicator,
                source=_source("prior-imaging", demo=demo), links=_links(report, fhir_server))


def _duplicate_card(order: dict[str, Any], analysis: Analysis, fhir_server: str | None, gap: timedelta) -> Card:
    report, demo = analysis.report, analysis.demo
    text, _ = order_text(order)
    hours = abs(gap.total_seconds()) / 3600
    ago = f"{int(hours)} hours" if hours < 48 else f"{int(hours // 24)} days"
    summary = _headline(report, f"{ago} from this order", prefix="Possible duplicate imaging: ", sep=" was done ")
    ref = _order_ref(order)
    suggestions = None
    if ref:
        suggestions = [Suggestion(label="Remove this draft order", uuid=_uuid(), isRecommended=False,
                                  actions=[Action(type="delete", resourceId=ref,
                                                  description=f"Remove the draft order {text}")])]
    blocks: list[list[str] | str | None] = [
        f"**Possible duplicate:** the drafted order ({_md(text)}) matches the region and modality of "
        f"{_md(_exam(report))}, {ago} from the planned date.",
        "Consider whether the prior study answers the clinical question before repeating it.",
        _footer(demo),
    ]
    return Card(uuid=_uuid(), summary=summary, detail=_detail(*blocks), indicator="warning",
                source=_source("duplicate-imaging", demo=demo), suggestions=suggestions,
                selectionBehavior="at-most-one" if suggestions else None,
                overrideReasons=_reasons(("repeat-indicated", "Repeat imaging clinically indicated"),
                                         ("prior-inadequate", "Prior study inadequate or unavailable"),
                                         ("planned-follow-up", "Planned follow-up interval")),
                links=_links(report, fhir_server))


def order_cards(orders: list[dict[str, Any]], analyses: list[Analysis], *, patient_id: str,
                fhir_server: str | None = None, now: datetime | None = None, max_priors: int = 3) -> list[CardFor]:
    """Cards for drafted imaging orders: prior relevant results, open follow-ups, possible duplicates."""
    now = now or datetime.now(UTC)
    out: list[CardFor] = []
    seen_prior: set[int] = set()
    ordered = sorted(analyses, key=lambda a: _report_time(a.report) or datetime.min.replace(tzinfo=UTC), reverse=True)
    for order in orders:
        if not is_imaging_order(order):
            continue
        text, codes = order_text(order)
        regions = body_regions(text, codes)
        modality = modality_of(text)
        planned = _planned(order, now)
        relevant = [a for a in ordered if regions & _report_regions(a)]
        for a in relevant[:max_priors]:
            if id(a) not in seen_prior:
                seen_prior.add(id(a))
                out.append(CardFor(_prior_card(order, a, patient_id, fhir_server, planned), a))
        for a in relevant:
            when = _report_time(a.report)
            same_modality = modality is not None and modality_of(a.report.procedure or "", a.report.modality) == modality
            if when is None or not same_modality:
                continue
            window = DUPLICATE_WINDOW_RADIOGRAPH if modality == "XR" else DUPLICATE_WINDOW
            gap = planned - when
            if abs(gap) <= window:
                out.append(CardFor(_duplicate_card(order, a, fhir_server, gap), a))
                break
    rank = {"critical": 0, "warning": 1, "info": 2}
    return sorted(out, key=lambda cf: rank[cf.card.indicator])
