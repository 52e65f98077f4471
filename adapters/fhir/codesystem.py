"""The CodeSystem resource behind our canonical URL, so that a FHIR server or terminology
service receiving our Observations can resolve every local code we emit.

Built from the same sources the outbound mapping draws on (the local code table, the task
catalog, every RADS category the model or the rules engine can state, the 14 CheXpert
labels, the critical-finding vocabulary), so it cannot drift from what we send.
"""

from __future__ import annotations

from html import escape
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from adapters.fhir import codes
from models.catalog import CATALOG, LOCAL_CODE_SYSTEM
from models.rules.critical import VOCABULARY as CRITICAL_TERMS
from models.rules.rads import SEVERITY
from models.types import CHEXPERT_LABELS, DEMO_NOTICE, RADS_MODIFIERS, RadsValue, TaskName

__all__ = ["code_system", "package_version"]


def package_version() -> str:
    """Our release, the business version of every conformance resource we publish."""
    try:
        return version("radlite-cds")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0"


def _concepts() -> dict[str, str]:
    concepts: dict[str, str] = {codes.DEMO_TAG_CODE: DEMO_NOTICE}
    concepts.update(codes.LOCAL)
    for task in TaskName:
        spec = CATALOG[task]
        if spec.fhir_system == LOCAL_CODE_SYSTEM:
            concepts[spec.fhir_code] = spec.fhir_display
    rads = CATALOG[TaskName.rads_assignment]
    for label in rads.labels or ():
        value = rads.parse(label)
        if getattr(value, "applicable", False) and value.system and value.category:
            concepts[codes.rads_code(value.system, value.category)] = value.label
    for system, categories in SEVERITY.items():
        for category in categories:
            concepts.setdefault(codes.rads_code(system, category), f"{system} {category}")
    # Every category the guideline table has a card for (e.g. NI-RADS 0, which neither the model's labels
    # nor the rules' order lists) can be coded by outbound.py: its code must resolve too.
    from adapters.cds.guidelines import GUIDELINES  # adapters.cds imports this package: imported late

    for system, category in GUIDELINES:
        concepts.setdefault(codes.rads_code(system, category), RadsValue(system=system, category=category).label)
    for system, modifiers in RADS_MODIFIERS.items():
        for modifier, meaning in modifiers.items():
            concepts[codes.rads_modifier_code(system, modifier)] = f"{system} {modifier}: {meaning}"
    for label in CHEXPERT_LABELS:
        concepts[f"chexpert-{codes.slug(label)}"] = label.capitalize()
    for term in CRITICAL_TERMS:
        concepts[f"critical-{codes.slug(term)}"] = term
    return concepts


def code_system() -> dict[str, Any]:
    """FHIR R4 CodeSystem (content complete) of every code in http://radlite.org/fhir/CodeSystem/radlite."""
    concepts = _concepts()
    return {
        "resourceType": "CodeSystem",
        "id": "radlite",
        "url": codes.RADLITE_CS,
        "version": package_version(),
        "name": "RadLiteCDS",
        "title": "RadLite CDS local codes",
        "status": "active",
        "experimental": False,
        "publisher": "RadLite CDS",
        "description": "Codes RadLite CDS uses where no standard code is verified: task results, RADS "
                       "categories, CheXpert labels, critical results, entity kinds, temporal changes, "
                       "model properties and the demo-model tag.",
        "caseSensitive": True,
        "content": "complete",
        "count": len(concepts),
        "concept": [{"code": code, "display": display} for code, display in concepts.items()],
        "text": {"status": "generated", "div": _narrative(concepts)},
    }


def _narrative(concepts: dict[str, str]) -> str:
    """The code table as XHTML (dom-6: a resource should carry a human-readable narrative)."""
    rows = "".join(f"<tr><td>{escape(code)}</td><td>{escape(display)}</td></tr>" for code, display in concepts.items())
    return (f'<div xmlns="http://www.w3.org/1999/xhtml"><p>RadLite CDS local codes ({len(concepts)})</p>'
            f"<table><tr><th>Code</th><th>Display</th></tr>{rows}</table></div>")
