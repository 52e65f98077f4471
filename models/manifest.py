"""The model manifest: which GGUF files serve which role, how they load, and the routing table.

A TOML file (`models/manifest.toml` by default, or any path the operator gives) lists
models and routes each of the nine tasks to a model id. Paths are relative to the
manifest file, absolute, or `package:<pkg>/<file>` for a file shipped inside an installed
Python package (the demo model). Every llama.cpp model file is checked against its pinned
sha256; a mismatch is refused loudly, naming the path and both hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.demo import package_path
from models.router import PAPER_ROUTING
from models.types import TaskName

__all__ = [
    "DEFAULT_MANIFEST",
    "RADLITE_FILES",
    "ManifestError",
    "ModelHashMismatch",
    "ModelEntry",
    "Manifest",
    "load_manifest",
    "file_sha256",
    "physical_cores",
]

log = logging.getLogger(__name__)

DEFAULT_MANIFEST = Path(__file__).with_name("manifest.toml")

RADLITE_FILES: dict[str, dict[str, object]] = {
    "qwen2.5-3b-radiology-Q4_K_M.gguf": {"role": "generation", "think_prefill": False},
    "qwen3-4b-radiology-Q4_K_M.gguf": {"role": "extraction", "think_prefill": True},
}
"""The published RadLite GGUF files by name: the role the paper gives them and whether the
model prints Qwen3's empty think block (pre-filled in the prompt when True)."""


class ManifestError(ValueError):
    """The manifest is malformed: unknown model id in routing, missing file, bad field."""


class ModelHashMismatch(ManifestError):
    """A model file's sha256 differs from the pinned one: wrong, corrupted or swapped file."""

    def __init__(self, path: Path, expected: str, actual: str) -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"refusing model file {path}: sha256 is {actual}, manifest pins {expected}. "
            "Replace the file or update the manifest if the change is intended."
        )


def physical_cores() -> int:
    """Physical CPU cores (not hyper-threads): generation stops scaling beyond them and slows with SMT.

    Read from /proc/cpuinfo (Linux) rather than adding psutil for one number; falls back
    to the logical CPU count elsewhere.
    """
    try:
        cores: set[tuple[str, str]] = set()
        phys = core = ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = line.partition(":")
            key = key.strip()
            if key == "physical id":
                phys = val.strip()
            elif key == "core id":
                core = val.strip()
                cores.add((phys, core))
        if cores:
            return max(1, min(len(cores), len(os.sched_getaffinity(0))))
    except OSError:
        pass
    return max(1, os.cpu_count() or 1)


_hash_cache: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached in memory per process by (path, size, mtime): GGUFs are GBs."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        if key in _hash_cache:
            return _hash_cache[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _hash_lock:
        _hash_cache[key] = digest
    return digest


class HttpOptions(BaseModel):
    """Transport settings of the HTTP backend (manifest table `http`); defaults suit a 3-4B
    model on a few CPU cores. The API key is named by an environment variable, so the
    manifest, which is checked in and audited, never holds a secret."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connect_timeout: float = Field(default=3.0, gt=0, description="Seconds to open a connection.")
    read_timeout: float = Field(
        default=300.0, gt=0, description="Seconds to wait for a completion: 256 tokens at 4 tok/s plus prefill."
    )
    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts after the first, across endpoints.")
    backoff: float = Field(default=0.5, ge=0, description="First backoff in seconds; doubles per retry round.")
    top_logprobs: int = Field(default=10, ge=1, le=20, description="Alternatives per token asked for confidences.")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the bearer token of servers run with --api-key."
    )
    api_key: str | None = Field(default=None, exclude=True, repr=False,
                                description="The token itself (programmatic use; wins over api_key_env).")

    def resolved_api_key(self) -> str | None:
        if self.api_key:
            return self.api_key
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class ModelEntry(BaseModel):
    """One model of the manifest, like llama-cpp-python's ModelSettings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="Manifest id, e.g. 'radlite-qwen2.5-3b'; routing refers to it.")
    path: str | None = Field(default=None, description="GGUF file (resolved to an absolute path on load).")
    sha256: str | None = Field(default=None, description="Pinned sha256 of the GGUF file; a mismatch is refused.")
    role: Literal["generation", "extraction"] = Field(description="The paper's role of the model.")
    chat_template: Literal["chatml"] = "chatml"
    lora_path: str | None = Field(default=None, description="Optional LoRA adapter GGUF (relative to the manifest).")
    lora_scale: float = Field(default=1.0, ge=0.0, le=4.0)
    n_ctx: int = Field(default=2048, ge=256, le=131072, description="Context size; RadLite used 2048.")
    n_threads: int = Field(default_factory=physical_cores, ge=1, description="Generation threads: physical cores.")
    n_threads_batch: int | None = Field(default=None, ge=1, description="Prompt threads; default n_threads.")
    demo: bool = Field(default=False, description="A demo model: every result is marked not for clinical use.")
    think_prefill: bool = Field(default=False, description="Pre-fill Qwen3's empty think block in the prompt.")
    backend: Literal["llama_cpp", "http"] = "llama_cpp"
    endpoints: list[str] = Field(default_factory=list, description="Base URLs of llama.cpp servers (http backend).")
    http: HttpOptions = Field(default_factory=HttpOptions, description="Timeouts, retries, key (http backend).")

    @field_validator("sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = v.strip().lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("sha256 must be 64 hex digits")
        return v

    @model_validator(mode="after")
    def _complete(self) -> ModelEntry:
        if self.backend == "llama_cpp" and not self.path:
            raise ValueError(f"model {self.id!r}: the llama_cpp backend needs a path")
        if self.backend == "http" and not self.endpoints:
            raise ValueError(f"model {self.id!r}: the http backend needs endpoints")
        return self

    @property
    def file_name(self) -> str | None:
        return Path(self.path).name if self.path else None

    @property
    def threads_batch(self) -> int:
        return self.n_threads_batch or self.n_threads

    def verified_sha256(self) -> str | None:
        """The file's sha256, checked against the pinned one (ModelHashMismatch when it differs)."""
        if not self.path or not Path(self.path).is_file():
            if self.backend == "http":
                return self.sha256
            raise ManifestError(f"model {self.id!r}: file not found: {self.path}")
        actual = file_sha256(Path(self.path))
        if self.sha256 and actual != self.sha256:
            raise ModelHashMismatch(Path(self.path), self.sha256, actual)
        if not self.sha256:
            log.warning("model %s has no pinned sha256; using the file's %s", self.id, actual[:12])
        return actual


class Manifest(BaseModel):
    """The models and the task routing; `version` names this exact configuration."""

    model_config = ConfigDict(frozen=True)

    models: list[ModelEntry]
    routing: dict[TaskName, str]
    source: str | None = Field(default=None, description="Where the manifest was read from.")

    @model_validator(mode="after")
    def _check(self) -> Manifest:
        ids = [m.id for m in self.models]
        if len(set(ids)) != len(ids):
            raise ValueError(f"duplicate model ids: {ids}")
        for task, model_id in self.routing.items():
            if model_id not in ids:
                raise ValueError(f"routing {task.value} -> unknown model id {model_id!r}")
        missing = [t.value for t in TaskName if t not in self.routing]
        if missing:
            raise ValueError(f"routing misses tasks: {missing}")
        return self

    def model(self, model_id: str) -> ModelEntry:
        return next(m for m in self.models if m.id == model_id)

    def entry_for(self, task: TaskName) -> ModelEntry:
        """The model that answers `task`."""
        return self.model(self.routing[task])

    @property
    def version(self) -> str:
        """Short sha256 of the canonical manifest content, file hashes included.

        Results are stored under it: a new file, LoRA, context size or route gives new results.
        """
        models = []
        for m in sorted(self.models, key=lambda m: m.id):
            d = m.model_dump(exclude={"path", "lora_path", "n_threads", "n_threads_batch", "endpoints", "http"})
            d["sha256"] = m.sha256 or m.verified_sha256()
            d["file"] = m.file_name
            d["lora_sha256"] = file_sha256(Path(m.lora_path)) if m.lora_path else None
            models.append(d)
        canon = json.dumps({"models": models, "routing": {k.value: v for k, v in sorted(self.routing.items())}},
                           sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()[:16]


def _resolve(raw: str, base: Path) -> str:
    if raw.startswith("package:"):
        package, _, relative = raw[len("package:"):].partition("/")
        return str(package_path(package, relative))
    p = Path(os.path.expanduser(raw))
    # normpath, not resolve(): a symlink keeps its own name, which is how RadLite files are recognised.
    return os.path.normpath(p if p.is_absolute() else base / p)


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and check a manifest TOML; None reads the packaged one (demo model for both roles).

    Routing that omits a task gets the paper's: the first model with the paper's role.
    """
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from exc
    base = Path(os.path.abspath(path.parent))
    raw_models = data.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise ManifestError(f"manifest {path}: no [[models]]")
    entries = []
    for raw in raw_models:
        raw = dict(raw)
        for key in ("path", "lora_path"):
            if raw.get(key):
                raw[key] = _resolve(str(raw[key]), base)
        known = RADLITE_FILES.get(Path(raw["path"]).name) if raw.get("path") else None
        if known:
            if raw.get("role", known["role"]) != known["role"]:
                raise ManifestError(f"{raw['path']}: a RadLite {known['role']} model declared as {raw.get('role')}")
            raw.setdefault("role", known["role"])
            raw.setdefault("think_prefill", known["think_prefill"])
        try:
            entries.append(ModelEntry(**raw))
        except ValueError as exc:
            raise ManifestError(f"manifest {path}: model {raw.get('id')!r}: {exc}") from exc
    ids = {m.id for m in entries}
    for task_name, model_id in data.get("routing", {}).items():
        if model_id not in ids:
            raise ManifestError(f"manifest {path}: routing {task_name} -> unknown model id {model_id!r}")
    routing: dict[TaskName, str] = {}
    for task in TaskName:
        model_id = data.get("routing", {}).get(task.value)
        if model_id is None:
            role = PAPER_ROUTING[task]
            match = next((m for m in entries if m.role == role), None)
            if match is None:
                raise ManifestError(f"manifest {path}: no route for {task.value} and no {role} model")
            model_id = match.id
        routing[task] = model_id
    unknown = set(data.get("routing", {})) - {t.value for t in TaskName}
    if unknown:
        raise ManifestError(f"manifest {path}: routing names unknown tasks {sorted(unknown)}")
    try:
        return Manifest(models=entries, routing=routing, source=str(path))
    except ValueError as exc:
        raise ManifestError(f"manifest {path}: {exc}") from exc
