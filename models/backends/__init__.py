"""Backends that run a catalog task: llama.cpp in process, llama.cpp server over HTTP."""

from models.backends.base import Backend, BackendError, build_result

__all__ = ["Backend", "BackendError", "build_result"]
