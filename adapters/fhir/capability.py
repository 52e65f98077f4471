"""What our FHIR door can do, as FHIR says a server must tell: a CapabilityStatement at
`[base]/metadata` and the OperationDefinition of `$analyze`.

FHIR clients (HAPI's generic client among them) read `/metadata` before anything else, to
check the FHIR version and what the server supports. Both resources are built from the same
code that serves the routes (profile ids, the CodeSystem, the task catalog), so they cannot
promise what the door does not do. Public conformance data, no PHI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from adapters.fhir import codes
from adapters.fhir.codesystem import package_version
from adapters.fhir.profiles import profile_ids, structure_definition
from models.types import TaskName

__all__ = ["ANALYZE_URL", "FHIR_VERSION", "capability_statement", "operation_definition"]

FHIR_VERSION = "4.0.1"
ANALYZE_ID = "DiagnosticReport-analyze"
ANALYZE_URL = f"http://radlite.org/fhir/OperationDefinition/{ANALYZE_ID}"
_FORMATS = ["application/fhir+json", "json"]
# When this process built its conformance resources: FHIR's `date` is when the statement last changed,
# and it changes only with a new release (version) or a restart with other settings.
_BUILT = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _narrative(text: str) -> dict[str, str]:
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{text}</p></div>'}


def operation_definition() -> dict[str, Any]:
    """OperationDefinition of `POST [base]/DiagnosticReport/$analyze` (type level, not idempotent)."""
    tasks = ", ".join(t.value for t in TaskName)
    return {
        "resourceType": "OperationDefinition",
        "id": ANALYZE_ID,
        "url": ANALYZE_URL,
        "version": package_version(),
        "name": "Analyze",
        "title": "Analyse radiology reports with RadLite CDS",
        "status": "active",
        "kind": "operation",
        "date": _BUILT,
        "publisher": "RadLite CDS",
        "description": "Reads the text of each DiagnosticReport given (a DiagnosticReport, a Bundle of them, or "
                       "Parameters holding them) and returns the results as Observations with their Provenance.",
        "affectsState": True,  # the reports and results are stored and audited
        "code": "analyze",
        "resource": ["DiagnosticReport"],
        "system": False,
        "type": True,
        "instance": False,
        "parameter": [
            {"name": "resource", "use": "in", "min": 1, "max": "1", "type": "Resource",
             "documentation": "A DiagnosticReport, a Bundle of DiagnosticReports, or the body itself when it is one "
                              "of these (a single resource parameter may be sent as the body). Given in "
                              "parameter.resource: a valueReference is not fetched."},
            {"name": "tasks", "use": "in", "min": 0, "max": "1", "type": "string",
             "documentation": f"Comma-separated tasks to run (valueString, or the query parameter `tasks`, which "
                              f"decides when given): {tasks}. Default: the tasks the report calls for."},
            {"name": "return", "use": "out", "min": 1, "max": "1", "type": "Bundle",
             "documentation": "A transaction Bundle of Observations (RADS category, N and M stage, entities, "
                              "chest findings, temporal changes) and their Provenance."},
        ],
        "text": _narrative("POST [base]/DiagnosticReport/$analyze: RadLite CDS results for radiology reports."),
    }


def capability_statement(base_url: str) -> dict[str, Any]:
    """CapabilityStatement (kind instance) of the FHIR door at `base_url` (`.../fhir`)."""
    base = base_url.rstrip("/")
    return {
        "resourceType": "CapabilityStatement",
        "id": "radlite-cds",
        "url": f"{base}/metadata",
        "version": package_version(),
        "name": "RadLiteCDS",
        "title": "RadLite CDS FHIR interface",
        "status": "active",
        "date": _BUILT,
        "publisher": "RadLite CDS",
        "kind": "instance",
        "software": {"name": "RadLite CDS", "version": package_version()},
        "implementation": {"description": "RadLite CDS radiology decision support", "url": base},
        "fhirVersion": FHIR_VERSION,
        "format": _FORMATS,
        "rest": [{
            "mode": "server",
            "documentation": "Report analysis and the conformance resources its results name.",
            "security": {"description": "POST $analyze needs a JWT bearer token signed by a trusted issuer "
                                        "(as CDS Hooks clients sign theirs); the conformance reads are public."},
            "resource": [
                {"type": "DiagnosticReport",
                 "operation": [{"name": "analyze", "definition": ANALYZE_URL}]},
                {"type": "Observation",
                 "supportedProfile": [structure_definition(pid)["url"] for pid in profile_ids()],
                 "documentation": "Returned by $analyze (not served for read); each names its profile."},
                {"type": "StructureDefinition",
                 "interaction": [{"code": "read"}, {"code": "search-type"}],
                 "searchParam": [{"name": "url", "type": "uri",
                                  "documentation": "Canonical URL of one of our profiles."}]},
                {"type": "CodeSystem", "interaction": [{"code": "read"}],
                 "documentation": f"Our local codes: {codes.RADLITE_CS} (read as CodeSystem/radlite)."},
                {"type": "OperationDefinition", "interaction": [{"code": "read"}]},
            ],
        }],
        "text": _narrative("RadLite CDS: $analyze on DiagnosticReport; reads of its profiles, code system and "
                           "operation definition. FHIR R4 JSON only."),
    }
