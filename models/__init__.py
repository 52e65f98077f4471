"""The RadLite model ensemble: task catalog, manifest, router, backends and rules engine.

Text in, typed results out. Knows nothing of HTTP, FHIR or HL7.
"""
