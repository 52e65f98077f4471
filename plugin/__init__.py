"""The RadLite CDS service: front doors, pipeline, storage, audit and CLI."""
