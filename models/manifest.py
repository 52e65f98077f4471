"""The model manifest: which GGUF files serve which role, how they load, and the routing table.

A TOML file (`models/manifest.toml` by default, or any path the operator gives) lists
models and routes each of the nine tasks to a model id. Paths are relative to the
manifest file, absolute, or `package:<pkg>/<file>` for a file shipped inside an installed
Python package (the demo model). Every llama.cpp model file is checked against its pinned
sha256; a mismatch is refused loudly, naming the path and both hashes.

Loading refuses, in one ManifestError naming the manifest, the model and the field, whatever
llama.cpp would otherwise fail on deep inside a load (a missing file, a Git LFS pointer, an
adapter given as the model, a context longer than the model was trained for) or would run
silently wrong (a published RadLite file with another role or think pre-fill, an adapter on a
merged RadLite file, endpoints on an in-process entry). The demo model's file is marked demo
under any name and whatever the entry says: demo output must always be marked.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import struct
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from models.demo import DEMO_SHA256, DEMO_SIZE, DemoModelMissing, package_path
from models.router import PAPER_ROUTING, Role
from models.types import TaskName

__all__ = [
    "DEFAULT_MANIFEST",
    "RADLITE_FILES",
    "RadLiteFile",
    "GgufInfo",
    "gguf_info",
    "published_file",
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

GGML_MAX_THREADS = 512
"""llama.cpp's GGML_MAX_N_THREADS: more threads than this cannot be run."""


@dataclass(frozen=True)
class RadLiteFile:
    """One published RadLite GGUF: the role the paper gives it, whether it prints Qwen3's empty
    think block (pre-filled in the prompt when True), its GGUF architecture, and its published
    sha256 (None while the contract lists none: then the file is known by name only)."""

    name: str
    role: Role
    think_prefill: bool
    architecture: str
    sha256: str | None = None


RADLITE_FILES: tuple[RadLiteFile, ...] = (
    RadLiteFile("qwen2.5-3b-radiology-Q4_K_M.gguf", "generation", False, "qwen2"),
    RadLiteFile("qwen3-4b-radiology-Q4_K_M.gguf", "extraction", True, "qwen3"),
)
"""The published RadLite GGUF files (shared/spec/radlite-contract.md). Their sha256 values are not
published in the contract, so none is pinned here; add them once known and a file is recognised by
its hash under any name, and a file under a RadLite name with another hash is refused."""


def published_file(name: str | None, sha256: str | None = None) -> RadLiteFile | None:
    """The published RadLite file a model file is: by its sha256 when that is a published one, else
    by its name (case-insensitive: a copy renamed only in case is the same download)."""
    if sha256:
        for known in RADLITE_FILES:
            if known.sha256 and known.sha256 == sha256:
                return known
    if name:
        for known in RADLITE_FILES:
            if known.name.lower() == name.lower():
                return known
    return None


class ManifestError(ValueError):
    """The manifest is malformed: unknown model id in routing, missing file, bad field."""


class ModelHashMismatch(ManifestError):
    """A model file's sha256 differs from the pinned one: wrong, corrupted or swapped file."""

    def __init__(self, path: Path, expected: str, actual: str, *, pinned_by: str = "the manifest") -> None:
        self.path, self.expected, self.actual = path, expected, actual
        super().__init__(
            f"refusing model file {path}: sha256 is {actual}, {pinned_by} pins {expected}. "
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


class GgufInfo(NamedTuple):
    """What a GGUF header says about the file: architecture, type ("model" or "adapter") and
    the context length the model was trained for."""

    architecture: str | None
    type: str | None
    context_length: int | None


_GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_GGUF_STRING, _GGUF_ARRAY = 8, 9


def _read(f: BinaryIO, fmt: str) -> object:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("is truncated (the GGUF header ends early: an incomplete download?)")
    return struct.unpack(fmt, data)[0]


def _read_string(f: BinaryIO) -> str:
    length = int(_read(f, "<Q"))  # type: ignore[call-overload]
    data = f.read(length)
    if len(data) != length:
        raise ValueError("is truncated (the GGUF header ends early: an incomplete download?)")
    return data.decode("utf-8", "replace")


def _read_value(f: BinaryIO, kind: int) -> object:
    if kind == _GGUF_STRING:
        return _read_string(f)
    if kind == _GGUF_ARRAY:
        item, count = int(_read(f, "<I")), int(_read(f, "<Q"))  # type: ignore[call-overload]
        if item in (_GGUF_STRING, _GGUF_ARRAY):
            for _ in range(count):
                _read_value(f, item)
        elif item in _GGUF_SCALARS:
            f.seek(struct.calcsize(_GGUF_SCALARS[item]) * count, os.SEEK_CUR)
        else:
            raise ValueError(f"has an unknown GGUF value type {item}")
        return None
    if kind not in _GGUF_SCALARS:
        raise ValueError(f"has an unknown GGUF value type {kind}")
    return _read(f, _GGUF_SCALARS[kind])


def _not_gguf(head: bytes) -> str:
    if not head:
        return "is empty (an incomplete download?)"
    if head.startswith(b"version https://git-lfs"):
        return "is a Git LFS pointer, not the model: fetch the file itself (git lfs pull)"
    if head.lstrip().startswith(b"<"):
        return "is an HTML/XML page, not a GGUF file (a failed download?)"
    return f"is not a GGUF file (starts with {head[:8]!r}, expected b'GGUF')"


def gguf_info(path: Path) -> GgufInfo:
    """Read the GGUF header's metadata (not the tensors): cheap even for GB files.

    Not llama.cpp's `gguf` package: its GGUFReader maps the whole file and turns every metadata
    array (the 49k-151k vocabulary strings and merges) and tensor record into numpy views, 3.3 s
    for the 98 MB demo file against 0.07 s here, on every start-up and `radlite models` call;
    we need three header keys and a precise reason for a truncated or mistaken download.

    Raises ValueError with a reason to append to the path when the file is not a GGUF llama.cpp loads.
    """
    with path.open("rb") as f:
        head = f.read(64)
        if not head.startswith(b"GGUF"):
            raise ValueError(_not_gguf(head))
        f.seek(4)
        version = int(_read(f, "<I"))  # type: ignore[call-overload]
        if version < 2:
            raise ValueError(f"is GGUF version {version}, which llama.cpp no longer loads")
        _read(f, "<Q")  # tensor count
        n_kv = int(_read(f, "<Q"))  # type: ignore[call-overload]
        meta: dict[str, object] = {}
        for _ in range(n_kv):
            key = _read_string(f)
            kind = int(_read(f, "<I"))  # type: ignore[call-overload]
            value = _read_value(f, kind)
            if value is not None:
                meta[key] = value
    arch = meta.get("general.architecture")
    arch = arch if isinstance(arch, str) else None
    gtype = meta.get("general.type")
    ctx = meta.get(f"{arch}.context_length") if arch else None
    return GgufInfo(arch, gtype if isinstance(gtype, str) else None, int(ctx) if isinstance(ctx, int) else None)


def _gguf_or_refuse(path: Path, label: str) -> GgufInfo:
    try:
        return gguf_info(path)
    except (ValueError, OSError) as exc:
        raise ManifestError(f"{label}: {path} {exc}") from None


def _is_demo_file(path: Path) -> bool:
    """True when the file is the demo model's, under whatever name (same size, then same hash)."""
    try:
        return path.stat().st_size == DEMO_SIZE and file_sha256(path) == DEMO_SHA256
    except OSError:
        return False


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
    lora_sha256: str | None = Field(default=None, description="Pinned sha256 of the adapter; a mismatch is refused.")
    lora_scale: float = Field(default=1.0, gt=0.0, le=4.0, description="Adapter scale; 0 would switch it off.")
    n_ctx: int = Field(default=2048, ge=256, le=131072, description="Context size; RadLite used 2048.")
    n_threads: int = Field(default_factory=physical_cores, ge=1, le=GGML_MAX_THREADS,
                           description="Generation threads: physical cores.")
    n_threads_batch: int | None = Field(default=None, ge=1, le=GGML_MAX_THREADS,
                                        description="Prompt threads; default n_threads.")
    demo: bool = Field(default=False, description="A demo model: every result is marked not for clinical use.")
    think_prefill: bool = Field(default=False, description="Pre-fill Qwen3's empty think block in the prompt.")
    backend: Literal["llama_cpp", "http"] = "llama_cpp"
    endpoints: list[str] = Field(default_factory=list, description="Base URLs of llama.cpp servers (http backend).")
    http: HttpOptions = Field(default_factory=HttpOptions, description="Timeouts, retries, key (http backend).")

    @field_validator("sha256", "lora_sha256")
    @classmethod
    def _hex(cls, v: str | None) -> str | None:
        if v is None or v == "":
            return None
        v = v.strip().lower()
        if len(v) != 64 or any(c not in "0123456789abcdef" for c in v):
            raise ValueError("sha256 must be 64 hex digits")
        return v

    @field_validator("n_ctx", "n_threads", "n_threads_batch", mode="before")
    @classmethod
    def _not_bool(cls, v: object) -> object:
        """TOML true/false is not a count (pydantic would read true as 1)."""
        if isinstance(v, bool):
            raise ValueError("Input should be a valid integer, not true/false")
        return v

    @field_validator("endpoints")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        """Each endpoint is the base URL of a llama-server: http(s), a host, no path query or fragment."""
        for url in urls:
            parts = urlsplit(url.strip())
            try:
                parts.port  # noqa: B018 - raises ValueError on a port that is not a number 0-65535
            except ValueError:
                raise ValueError(f"endpoint {url!r} has an invalid port") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"endpoint {url!r} is not an http(s) URL with a host, e.g. http://10.0.0.5:8080")
            if parts.query or parts.fragment or url != url.strip():
                raise ValueError(f"endpoint {url!r} must be a plain base URL (no spaces, query or fragment)")
        if len(set(urls)) != len(urls):
            raise ValueError(f"endpoints repeat a URL: {urls}")
        return urls

    @model_validator(mode="after")
    def _complete(self) -> ModelEntry:
        if self.backend == "llama_cpp" and not self.path:
            raise ValueError(f"model {self.id!r}: the llama_cpp backend needs a path")
        if self.backend == "llama_cpp" and self.endpoints:
            raise ValueError(f"model {self.id!r}: endpoints are for backend = \"http\"; this entry loads {self.path}")
        if self.backend == "http" and not self.endpoints:
            raise ValueError(f"model {self.id!r}: the http backend needs endpoints")
        if self.backend == "http" and self.lora_path:
            raise ValueError(f"model {self.id!r}: lora_path: the http backend loads no adapter "
                             "(start llama-server with --lora instead)")
        if self.lora_sha256 and not self.lora_path:
            raise ValueError(f"model {self.id!r}: lora_sha256 is set but lora_path is not")
        return self

    @property
    def file_name(self) -> str | None:
        return Path(self.path).name if self.path else None

    @property
    def threads_batch(self) -> int:
        return self.n_threads_batch or self.n_threads

    def verified_sha256(self) -> str | None:
        """The file's sha256, checked against the pinned one (ModelHashMismatch when it differs),
        against the published one for a RadLite file, and the adapter's (see `verified_lora_sha256`)."""
        if not self.path or not Path(self.path).is_file():
            if self.backend == "http":
                return self.sha256
            raise ManifestError(f"model {self.id!r}: path: file not found: {self.path}")
        path = Path(self.path)
        actual = file_sha256(path)
        if self.sha256 and actual != self.sha256:
            raise ModelHashMismatch(path, self.sha256, actual)
        named = published_file(path.name)
        if named and named.sha256 and actual != named.sha256:
            raise ModelHashMismatch(path, named.sha256, actual, pinned_by=f"the published {named.name}")
        known = published_file(None, actual)
        if known and (self.role, self.think_prefill) != (known.role, known.think_prefill):
            raise ManifestError(
                f"model {self.id!r}: {path} is the published {known.name} (by sha256): its role is {known.role} "
                f"and think_prefill {str(known.think_prefill).lower()}, the manifest gives {self.role} and "
                f"{str(self.think_prefill).lower()}")
        if not self.sha256:
            log.warning("model %s has no pinned sha256; using the file's %s", self.id, actual[:12])
        self.verified_lora_sha256()
        return actual

    def verified_lora_sha256(self) -> str | None:
        """The adapter's sha256, checked against `lora_sha256`, after checking it is a LoRA adapter
        GGUF for the base model's architecture (what llama.cpp would otherwise refuse at load)."""
        if not self.lora_path:
            return None
        lora = Path(self.lora_path)
        if not lora.is_file():
            raise ManifestError(f"model {self.id!r}: lora_path: file not found: {lora}")
        label = f"model {self.id!r}: lora_path"
        info = _gguf_or_refuse(lora, label)
        if info.type != "adapter":
            raise ManifestError(f"{label}: {lora} is not a LoRA adapter GGUF (general.type is {info.type!r}, "
                                "expected 'adapter')")
        if self.path and Path(self.path).is_file():
            base = _gguf_or_refuse(Path(self.path), f"model {self.id!r}: path")
            if info.architecture != base.architecture:
                raise ManifestError(f"{label}: {lora} is an adapter for {info.architecture}, but the base model "
                                    f"{Path(self.path).name} is {base.architecture}")
        actual = file_sha256(lora)
        if self.lora_sha256 and actual != self.lora_sha256:
            raise ModelHashMismatch(lora, self.lora_sha256, actual)
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
            raise ValueError(f"duplicate model ids: {sorted({i for i in ids if ids.count(i) > 1})}")
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
            # Identity only: the checks (pinned, published, adapter) run in verified_sha256 at start-up.
            d["sha256"] = m.sha256 or (file_sha256(Path(m.path)) if m.path and Path(m.path).is_file() else None)
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


def _field_errors(exc: ValidationError) -> str:
    """Pydantic's errors as one line per field: `field n_ctx: Input should be ... (got 0)`."""
    parts = []
    for error in exc.errors():
        msg = str(error["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(x) for x in error["loc"])
        got = f" (got {error['input']!r})" if loc and error["type"] != "missing" else ""
        parts.append(f"field {loc}: {msg}{got}" if loc else msg)
    return "; ".join(parts)


def _published_defaults(raw: dict[str, object], label: str) -> RadLiteFile | None:
    """Fill role and think_prefill of a published RadLite file; refuse values that contradict it.

    A pinned sha256 that is not the published one is refused here, naming both hashes.
    """
    name = Path(str(raw["path"])).name if raw.get("path") else None
    pinned = str(raw.get("sha256") or "").strip().lower() or None
    known = published_file(name, pinned)
    if known is None:
        return None
    if known.sha256 and pinned and pinned != known.sha256:
        raise ManifestError(f"{label}: field sha256: {name} is a published RadLite file name, but the manifest "
                            f"pins {pinned} and the published file's sha256 is {known.sha256}")
    for key, value in (("role", known.role), ("think_prefill", known.think_prefill)):
        if key in raw and raw[key] != value:
            raise ManifestError(f"{label}: field {key}: {raw['path']} is the published RadLite {known.role} "
                                f"model ({known.name}), whose {key} is {str(value).lower()}, not "
                                f"{str(raw[key]).lower()}")
        raw.setdefault(key, value)
    if raw.get("lora_path"):
        raise ManifestError(f"{label}: field lora_path: {known.name} already has the RadLite LoRA merged; "
                            "another adapter on it is not the model the paper measured")
    return known


def _checked_file(entry: ModelEntry, known: RadLiteFile | None, label: str) -> ModelEntry:
    """Refuse a model file llama.cpp would fail on (or a wrong file under a RadLite name), and mark
    the demo model's file demo whatever the entry says: demo output must always be marked."""
    if entry.lora_path and not Path(entry.lora_path).is_file():
        raise ManifestError(f"{label}: field lora_path: file not found: {entry.lora_path}")
    is_demo = entry.sha256 == DEMO_SHA256
    if entry.backend == "llama_cpp" and entry.path:
        path = Path(entry.path)
        if not path.is_file():
            raise ManifestError(f"{label}: field path: file not found: {path}")
        info = _gguf_or_refuse(path, f"{label}: field path:")
        is_demo = is_demo or _is_demo_file(path)
        if info.type == "adapter":
            raise ManifestError(f"{label}: field path: {path} is a LoRA adapter, not a model: give the base "
                                "model as path and the adapter as lora_path")
        if known and not is_demo and info.architecture != known.architecture:
            raise ManifestError(f"{label}: field path: {path} is a {info.architecture} model, but the published "
                                f"{known.name} is {known.architecture}: a different file under its name "
                                "(are the two RadLite files swapped?)")
        if info.context_length and entry.n_ctx > info.context_length:
            raise ManifestError(f"{label}: field n_ctx: {entry.n_ctx} exceeds the {info.context_length} tokens "
                                f"{path.name} was trained for")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if entry.backend == "llama_cpp" and max(entry.n_threads, entry.threads_batch) > cpus:
        log.warning("model %s: %d threads on %d CPUs; oversubscribed llama.cpp threads slow every call",
                    entry.id, max(entry.n_threads, entry.threads_batch), cpus)
    if is_demo and not entry.demo:
        log.warning("model %s is the demo model's file; its results are marked demo", entry.id)
        entry = entry.model_copy(update={"demo": True})
    return entry


def _entry(raw: object, index: int, where: str, base: Path) -> ModelEntry:
    """One [[models]] table as a checked ModelEntry; every refusal names the manifest, the model and the field."""
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: models[{index}] is not a table ([[models]] with key = value lines)")
    raw = dict(raw)
    label = f"{where}: model {raw.get('id', f'#{index + 1}')!r}"
    for key in ("path", "lora_path"):
        if key not in raw:
            continue
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ManifestError(f"{label}: field {key}: must be a file path (got {raw[key]!r})")
        try:
            raw[key] = _resolve(raw[key].strip(), base)
        except DemoModelMissing as exc:
            raise ManifestError(f"{label}: field {key}: {exc}") from None
    known = _published_defaults(raw, label)
    try:
        entry = ModelEntry(**raw)
    except ValidationError as exc:
        raise ManifestError(f"{label}: {_field_errors(exc)}") from None
    return _checked_file(entry, known, label)


def _routing(raw: object, entries: list[ModelEntry], where: str) -> dict[TaskName, str]:
    """The [routing] table checked; a task left out goes to the first model with the paper's role for it."""
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: [routing] must be a table of task = \"model id\" lines")
    tasks = [t.value for t in TaskName]
    unknown = sorted(set(raw) - set(tasks))
    if unknown:
        hints = [f"{u} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(u, tasks, 1)) else u
                 for u in unknown]
        raise ManifestError(f"{where}: routing names unknown tasks {hints}; the tasks are {tasks}")
    ids = [m.id for m in entries]
    for task_name, model_id in raw.items():
        if not isinstance(model_id, str) or model_id not in ids:
            raise ManifestError(f"{where}: routing {task_name} -> unknown model id {model_id!r}; the ids are {ids}")
    routing: dict[TaskName, str] = {}
    for task in TaskName:
        model_id = raw.get(task.value)
        if model_id is None:
            role = PAPER_ROUTING[task]
            match = next((m for m in entries if m.role == role), None)
            if match is None:
                raise ManifestError(f"{where}: no route for {task.value} and no {role} model to give it")
            model_id = match.id
        routing[task] = model_id
    return routing


def load_manifest(path: Path | None = None) -> Manifest:
    """Read and check a manifest TOML; None reads the packaged one (demo model for both roles).

    Routing that omits a task gets the paper's: the first model with the paper's role.
    Every refusal is one ManifestError naming the manifest file, the model and the field.
    """
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ManifestError(f"cannot read manifest {path}: {exc}") from None
    where = f"manifest {path}"
    extra = sorted(set(data) - {"models", "routing"})
    if extra:
        raise ManifestError(f"{where}: unknown top-level keys {extra}; a manifest has [[models]] and [routing]")
    base = Path(os.path.abspath(path.parent))
    raw_models = data.get("models")
    if not isinstance(raw_models, list) or not raw_models:
        raise ManifestError(f"{where}: no [[models]]")
    entries = [_entry(raw, i, where, base) for i, raw in enumerate(raw_models)]
    ids = [m.id for m in entries]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ManifestError(f"{where}: duplicate model ids {duplicates}: each [[models]] needs its own id")
    routing = _routing(data.get("routing", {}), entries, where)
    try:
        return Manifest(models=entries, routing=routing, source=str(path))
    except ValidationError as exc:
        raise ManifestError(f"{where}: {_field_errors(exc)}") from None
