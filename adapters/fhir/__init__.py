"""FHIR R4: DiagnosticReport in (-> RadiologyReport); Observation, Device, Provenance and transaction Bundle out;
the CodeSystem and the Observation profiles (StructureDefinitions) they use."""

from adapters.fhir.codesystem import code_system
from adapters.fhir.errors import FhirInputError, Issue, operation_outcome
from adapters.fhir.inbound import report_from_diagnostic_report, reports_from_resource
from adapters.fhir.outbound import (
    RULES_IDENTITY,
    critical_observation,
    device_for,
    fhir_strings,
    follow_up_observation,
    merge_transactions,
    observation_for,
    observations_for,
    patient_reference,
    provenance_for,
    source_reference,
    transaction_bundle,
)
from adapters.fhir.profiles import (
    profile_for,
    structure_definition,
    structure_definition_bundle,
    structure_definitions,
)

__all__ = [
    "FhirInputError",
    "Issue",
    "RULES_IDENTITY",
    "code_system",
    "critical_observation",
    "device_for",
    "fhir_strings",
    "follow_up_observation",
    "merge_transactions",
    "observation_for",
    "observations_for",
    "operation_outcome",
    "patient_reference",
    "profile_for",
    "provenance_for",
    "report_from_diagnostic_report",
    "reports_from_resource",
    "source_reference",
    "structure_definition",
    "structure_definition_bundle",
    "structure_definitions",
    "transaction_bundle",
]
