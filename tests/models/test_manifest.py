"""Manifest loading, the paper's routing, hash pinning and its loud refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from models import manifest as mf
from models.demo import DEMO_SHA256, demo_model_path
from models.manifest import ManifestError, ModelHashMismatch, load_manifest
from models.router import PAPER_ROUTING
from models.types import TaskName


def test_packaged_manifest_is_the_demo_for_both_roles(demo_manifest: mf.Manifest) -> None:
    assert {m.role for m in demo_manifest.models} == {"generation", "extraction"}
    assert all(m.demo and m.path == str(demo_model_path()) and m.sha256 == DEMO_SHA256 for m in demo_manifest.models)
    assert all(m.n_ctx == 2048 and m.n_threads == mf.physical_cores() for m in demo_manifest.models)
    assert len(demo_manifest.version) == 16 and demo_manifest.version == load_manifest().version


def test_routing_follows_the_paper(demo_manifest: mf.Manifest) -> None:
    for task in TaskName:
        assert demo_manifest.entry_for(task).role == PAPER_ROUTING[task]
    gen = {t for t, r in PAPER_ROUTING.items() if r == "generation"}
    assert gen == {TaskName.rads_assignment, TaskName.impression_generation, TaskName.radiology_nli,
                   TaskName.radiology_qa, TaskName.n_staging, TaskName.m_staging}


def _write(tmp: Path, body: str) -> Path:
    p = tmp / "manifest.toml"
    p.write_text(body, encoding="utf-8")
    return p


def _link(tmp: Path, name: str) -> Path:
    dst = tmp / name
    os.symlink(demo_model_path(), dst)
    return dst


def test_relative_paths_default_routing_and_radlite_names(tmp_path: Path) -> None:
    _link(tmp_path, "qwen2.5-3b-radiology-Q4_K_M.gguf")
    _link(tmp_path, "qwen3-4b-radiology-Q4_K_M.gguf")
    path = _write(tmp_path, f"""
[[models]]
id = "radlite-qwen2.5-3b"
path = "qwen2.5-3b-radiology-Q4_K_M.gguf"
sha256 = "{DEMO_SHA256}"
n_threads = 3

[[models]]
id = "radlite-qwen3-4b"
path = "qwen3-4b-radiology-Q4_K_M.gguf"
sha256 = "{DEMO_SHA256}"
""")
    m = load_manifest(path)
    gen, ext = m.model("radlite-qwen2.5-3b"), m.model("radlite-qwen3-4b")
    assert gen.path == str(tmp_path / "qwen2.5-3b-radiology-Q4_K_M.gguf")
    assert (gen.role, gen.think_prefill, gen.n_threads) == ("generation", False, 3)
    assert (ext.role, ext.think_prefill) == ("extraction", True)
    assert all(m.entry_for(t).role == r for t, r in PAPER_ROUTING.items())
    assert m.version != load_manifest().version


def test_hash_mismatch_is_refused_naming_path_and_both_hashes(tmp_path: Path) -> None:
    bad = "0" * 64
    target = _link(tmp_path, "model.gguf")
    path = _write(tmp_path, f'[[models]]\nid = "g"\npath = "model.gguf"\nsha256 = "{bad}"\nrole = "generation"\n'
                            f'[[models]]\nid = "e"\npath = "model.gguf"\nsha256 = "{DEMO_SHA256}"\nrole = "extraction"\n')
    m = load_manifest(path)
    with pytest.raises(ModelHashMismatch) as err:
        m.model("g").verified_sha256()
    msg = str(err.value)
    assert str(target) in msg and bad in msg and DEMO_SHA256 in msg
    from models.ensemble import Ensemble

    with pytest.raises(ModelHashMismatch):
        Ensemble(m, rules=None)


def test_hash_is_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "x.gguf"
    f.write_bytes(b"abc")
    first = mf.file_sha256(f)
    st = f.stat()
    assert mf._hash_cache[(str(f.resolve()), st.st_size, st.st_mtime_ns)] == first
    f.write_bytes(b"abcd")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert mf.file_sha256(f) != first


@pytest.mark.parametrize(("body", "needle"), [
    ('[[models]]\nid = "a"\npath = "{p}"\nrole = "generation"\n[routing]\nm_staging = "nope"\n', "unknown model id"),
    ('[[models]]\nid = "a"\npath = "{p}"\nrole = "generation"\n', "no route"),
    ('[[models]]\nid = "a"\npath = "{p}"\nrole = "generation"\nsha256 = "xyz"\n', "64 hex"),
    ('[[models]]\nid = "a"\nrole = "generation"\n', "needs a path"),
    ('[[models]]\nid = "a"\npath = "{p}"\nrole = "generation"\n[[models]]\nid = "b"\npath = "{p}"\n'
     'role = "extraction"\n[routing]\nstaging = "a"\n', "unknown tasks"),
    ('models = 3', "no [[models]]"),
])
def test_malformed_manifests_are_refused(tmp_path: Path, body: str, needle: str) -> None:
    path = _write(tmp_path, body.replace("{p}", str(demo_model_path())))
    with pytest.raises(ManifestError) as err:
        load_manifest(path)
    assert needle in str(err.value)


def test_radlite_file_with_wrong_role_is_refused(tmp_path: Path) -> None:
    _link(tmp_path, "qwen3-4b-radiology-Q4_K_M.gguf")
    path = _write(tmp_path, '[[models]]\nid = "q"\npath = "qwen3-4b-radiology-Q4_K_M.gguf"\nrole = "generation"\n')
    with pytest.raises(ManifestError, match="extraction"):
        load_manifest(path)


def test_lora_and_http_entries(tmp_path: Path) -> None:
    lora = tmp_path / "adapter.gguf"
    lora.write_bytes(b"lora")
    path = _write(tmp_path, f"""
[[models]]
id = "g"
path = "{demo_model_path()}"
role = "generation"
lora_path = "adapter.gguf"
lora_scale = 0.5

[[models]]
id = "e"
role = "extraction"
backend = "http"
endpoints = ["http://127.0.0.1:9931"]
""")
    m = load_manifest(path)
    assert m.model("g").lora_path == str(lora) and m.model("g").lora_scale == 0.5
    assert m.model("e").endpoints == ["http://127.0.0.1:9931"]
    before = m.version
    lora.write_bytes(b"other lora")
    assert m.version != before  # the adapter's content is part of the version


def test_http_options_come_from_the_manifest_and_the_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from models.backends.http import HttpBackend

    manifest = tmp_path / "models.toml"
    manifest.write_text(
        """
[[models]]
id = "remote"
role = "generation"
backend = "http"
endpoints = ["http://127.0.0.1:9"]
[models.http]
read_timeout = 12.5
retries = 0
api_key_env = "RADLITE_TEST_LLAMA_KEY"

[routing]
"""
        + "\n".join(f'{t.value} = "remote"' for t in TaskName)
        + "\n"
    )
    monkeypatch.setenv("RADLITE_TEST_LLAMA_KEY", "s3cret")
    m = load_manifest(manifest)
    entry = m.models[0]
    assert entry.http.read_timeout == 12.5 and entry.http.retries == 0
    backend = HttpBackend(entry)
    try:
        assert backend.options.resolved_api_key() == "s3cret"
    finally:
        backend.close()
    # Transport options are not part of what results are keyed by; the key never is.
    plain = tmp_path / "plain.toml"
    plain.write_text(manifest.read_text().replace("read_timeout = 12.5", "read_timeout = 99.0"))
    assert load_manifest(plain).version == m.version
    assert "s3cret" not in entry.model_dump_json()
