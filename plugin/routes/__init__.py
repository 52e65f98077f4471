"""One module per front door: CDS Hooks, HL7 v2 over HTTP, FHIR $analyze, audit page, health."""
