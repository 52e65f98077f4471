"""Outside formats: HL7 v2, FHIR R4 and CDS Hooks JSON. Pure functions over models.types."""
