"""Side-by-side speed of the notebook's naive path and ours, on one GGUF loaded once.

    python -m benchmarks.run [--runs 5] [--tasks rads_assignment,m_staging] [--no-memory]

Per task:
- naive: what the RadLite demo notebook does: free generation with the published max
  tokens, greedy (temperature 0), no grammar, stop at <|im_end|>, via `create_completion`;
- ours: `LlamaBackend.run` (label scoring, skeleton, free generation with a grammar retry);
- bare: llama-cpp-python `eval` of exactly the token batches our call evaluated, so
  `ours / bare - 1` is the per-call overhead of our Python code.

By default every run starts as in a running service whose previous call was another
task: the context holds the ChatML system prefix (llama-cpp-python's own prefix match
reuses it for the naive path too), and ours has the stored KV of each task's static
prefix. `--cold` empties the context and the prefix store before every run, so both pay
the whole prompt. The median of `--runs` runs is printed. Nothing here asserts on time: these are measurements.
The memory line loads the model in fresh processes with logits_all False and True.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from benchmarks.samples import requests
from models.backends.llama import LlamaBackend, LoadedModel, common_prefix
from models.catalog import CATALOG, SYSTEM_PROMPT, chatml
from models.manifest import ModelEntry, load_manifest
from models.parsers import ParseError
from models.types import TaskName, TaskRequest, TaskResult

END = "<|im_end|>"


class RecordingModel(LoadedModel):
    """The in-process model, optionally recording every batch of tokens it evaluates (for the bare replay)."""

    def __init__(self, entry: ModelEntry, sha256: str | None) -> None:
        super().__init__(entry, sha256)
        self.recorded: list[list[int]] | None = None

    def feed(self, tokens: Sequence[int]) -> None:
        if self.recorded is not None:
            self.recorded.append(list(tokens))
        super().feed(tokens)


@dataclass
class Row:
    task: TaskName
    naive_tokens: int
    naive_s: float
    naive_valid: bool
    ours_tokens: int
    ours_s: float
    bare_s: float
    prompt_tokens: int
    ours_evaluated: int


def _interleaved(fns: dict[str, tuple[Callable[[], object], Callable[[], None]]], runs: int):  # noqa: ANN202
    """Median wall time per (function, untimed reset), the functions alternating within each round.

    Alternating (naive, ours, bare, naive, ours, bare, ...) makes load from other processes
    fall on all three alike; one untimed warm-up round first (vocab index, page faults).
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    last: dict[str, object] = {}
    for round_ in range(runs + 1):
        for name, (fn, reset) in fns.items():
            reset()
            start = time.perf_counter()
            last[name] = fn()
            if round_:
                times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v) for k, v in times.items()}, last


def bench_task(model: RecordingModel, backend: LlamaBackend, request: TaskRequest, runs: int, cold: bool) -> Row:
    spec = CATALOG[request.task]
    prompt = spec.prompt(request, think_prefill=backend.entry.think_prefill)
    llm = model.llm
    tokens = model.tokenize(prompt, special=True)
    system = model.tokenize(chatml(SYSTEM_PROMPT, ""), special=True)
    shared = common_prefix(system, tokens)
    static = tuple(tokens[: backend.static_length(spec, tokens)])

    def reset() -> None:
        if cold:  # empty context, empty prefix store: every path evaluates the whole prompt
            model.rewind(0)
            model.clear_prefixes()
        else:  # a running service: the previous call was another task, so the context holds
            model.rewind(shared)  # the system prefix, which llama-cpp-python reuses by itself

    def naive() -> dict:
        return llm.create_completion(prompt, max_tokens=spec.max_tokens, temperature=0.0, top_k=1, stop=[END])

    def ours() -> TaskResult:
        return backend.run(spec, request)

    # Record the batches one steady-state call of ours evaluates, for the bare replay.
    reset()
    ours()
    reset()
    model.recorded = []
    ours()
    batches, model.recorded = model.recorded, None

    def bare_reset() -> None:
        reset()
        if not cold:
            model.restore_prefix(static)  # where ours starts evaluating: the stored task prefix

    def bare() -> None:
        for batch in batches:
            llm.eval(batch)

    medians, last = _interleaved({"naive": (naive, reset), "ours": (ours, reset), "bare": (bare, bare_reset)}, runs)
    completion, result = last["naive"], last["ours"]
    assert isinstance(completion, dict) and isinstance(result, TaskResult)
    try:
        spec.parse(completion["choices"][0]["text"])
        naive_valid = True
    except ParseError:
        naive_valid = False
    return Row(task=request.task, naive_tokens=int(completion["usage"]["completion_tokens"]),
               naive_s=medians["naive"], naive_valid=naive_valid, ours_tokens=result.tokens_generated,
               ours_s=medians["ours"], bare_s=medians["bare"], prompt_tokens=len(tokens),
               ours_evaluated=sum(len(b) for b in batches))


_RSS_CHILD = """
import sys, psutil, llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=2048, logits_all=sys.argv[2] == "1", verbose=False)
llm.eval(llm.tokenize(b"The lungs are clear. " * 60))
print(psutil.Process().memory_info().rss)
"""


def rss_mib(model_path: str, logits_all: bool) -> float:
    """RSS of a fresh process holding one Llama after evaluating a ~300-token prompt."""
    out = subprocess.run([sys.executable, "-c", _RSS_CHILD, model_path, "1" if logits_all else "0"],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 2**20


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement; the median is shown")
    ap.add_argument("--tasks", default="", help="comma-separated task names (default: all nine)")
    ap.add_argument("--no-memory", action="store_true", help="skip the logits_all RSS comparison")
    ap.add_argument("--threads", type=int, default=0, help="override the manifest's n_threads (0: keep)")
    ap.add_argument("--cold", action="store_true", help="empty context and prefix store before every run")
    args = ap.parse_args(argv)

    console = Console(width=160)
    manifest = load_manifest()
    wanted = [TaskName(t) for t in args.tasks.split(",") if t] or list(TaskName)
    entry = manifest.entry_for(wanted[0])
    if args.threads:
        entry = entry.model_copy(update={"n_threads": args.threads, "n_threads_batch": args.threads})
    model = RecordingModel(entry, entry.verified_sha256())
    backends = {m.id: LlamaBackend(m, model) for m in manifest.models if m.path == entry.path}

    import llama_cpp

    console.print(
        f"model {os.path.basename(entry.path or '')} (sha256 {str(model.sha256)[:12]}), llama-cpp-python "
        f"{llama_cpp.__version__}, {os.cpu_count()} CPUs, n_threads {entry.n_threads}, "
        f"load average {os.getloadavg()[0]:.1f}, Python {platform.python_version()}, median of {args.runs} runs, "
        "cold context, no stored prefixes" if args.cold else "warm service (system prefix in context, task prefixes stored)"
    )
    table = Table(title="naive (notebook) vs ours, per task")
    for col in ("task", "prompt tok", "naive tok", "naive valid", "naive s", "ours fed", "ours tok", "ours s",
                "speed-up", "bare eval s", "our overhead"):
        table.add_column(col, justify="left" if col == "task" else "right")
    for request in requests():
        if request.task not in wanted:
            continue
        backend = backends[manifest.routing[request.task]]
        row = bench_task(model, backend, request, args.runs, args.cold)
        overhead = (row.ours_s / row.bare_s - 1.0) * 100.0 if row.bare_s > 0 else float("nan")
        console.print(f"  {row.task.value}: naive {row.naive_s:.3f} s, ours {row.ours_s:.3f} s, "
                      f"bare {row.bare_s:.3f} s", style="dim")
        table.add_row(
            row.task.value, str(row.prompt_tokens), str(row.naive_tokens), "yes" if row.naive_valid else "no",
            f"{row.naive_s:.3f}", str(row.ours_evaluated), str(row.ours_tokens), f"{row.ours_s:.3f}",
            f"{row.naive_s / row.ours_s:.2f}x", f"{row.bare_s:.3f}", f"{overhead:+.1f}%",
        )
    console.print(table)
    model.close()
    if not args.no_memory:
        path = entry.path or ""
        off, on = rss_mib(path, False), rss_mib(path, True)
        console.print(f"memory: one Llama, n_ctx 2048, RSS {off:.0f} MiB with logits_all=False, "
                      f"{on:.0f} MiB with logits_all=True (+{on - off:.0f} MiB)")


if __name__ == "__main__":
    main()
