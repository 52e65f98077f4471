"""The in-process llama.cpp backend (llama-cpp-python), one `Llama` per model file.

Concurrency: a `Llama` wraps one context and one KV cache and must never be called from
two threads at once (abetlen/llama-cpp-python#1529), so each loaded file has one lock and
every task holds it for its whole run. Two roles on the same file (the demo) share one
`LoadedModel`, hence one lock and one copy of the weights.

Speed choices (see /work/shared/spec/serving.md):
- `logits_all=False`: only the last position's logits are kept; label tasks read them
  directly (models/scoring.py) instead of asking for logprobs.
- Prefix reuse. RadLite puts the report after the task's instruction, so each task's
  static part (system + instruction, 40-150 tokens; n_staging carries two worked examples)
  is the same for every request of the task. Its KV cells are computed once (one batch,
  empty context), kept (`llama_state_seq_get_data` of sequence 0: KV only, about 2 MB for
  the demo model, 20 MB for Qwen3-4B) and copied back when the previous call was another
  task; the key is the exact token tuple, so the restored cells are those of the same
  tokens at the same positions. The report part is always evaluated as one batch after
  it, so the answer does not depend on what ran before (see `LoadedModel.prime`).
  `Llama.save_state` is not used: it also copies the n_batch x n_vocab scores buffer on
  every save and restore.
- Free tasks: greedy decoding in our own loop (below) so that each token's probability
  is known without `logits_all`. Line-shaped answers (temporal changes, entities) are
  checked as they are generated and stop at the first token that makes them unparseable
  (`viable_lines`) or once they loop (`unless_looping`); when the free text does not parse,
  one more try under the task's GBNF grammar (llama.cpp's grammar sampler, asked about the
  greedy token first: models/backends/grammar.py) admits only parseable shapes.
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from models.backends.base import BackendError, ContextOverflow, build_result
from models.backends.grammar import GrammarGate
from models.catalog import TaskSpec
from models.manifest import ModelEntry
from models.parsers import ParseError, drop_incomplete_tail, strip_think
from models.scoring import VocabIndex, score_labels, token_probability
from models.types import ModelIdentity, TaskName, TaskRequest, TaskResult

__all__ = ["LoadedModel", "LlamaBackend", "PREFIX_STORE_BYTES", "common_prefix", "ends_in_cycle", "unless_looping",
           "viable_lines"]

# KV state kept per model for the tasks' static prompt prefixes (least recently used goes
# first). Nine tasks of Qwen3-4B at about 150 tokens x 144 KiB need about 190 MiB.
PREFIX_STORE_BYTES = 256 * 2**20


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two token sequences share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class LoadedModel:
    """One GGUF file loaded with llama-cpp-python, its lock, and the token-level operations we need."""

    def __init__(self, entry: ModelEntry, sha256: str | None) -> None:
        import llama_cpp  # heavy native import, deferred until a model is actually loaded

        self.path = Path(entry.path or "")
        self.sha256 = sha256
        self.lock = threading.RLock()
        self._llama_cpp = llama_cpp
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=entry.n_ctx,
                n_threads=entry.n_threads,
                n_threads_batch=entry.threads_batch,
                lora_path=entry.lora_path,
                lora_scale=entry.lora_scale,
                logits_all=False,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            adapter = f" with lora_path {entry.lora_path}" if entry.lora_path else ""
            raise BackendError(f"model {entry.id}: cannot load path {self.path}{adapter}: {exc}") from None
        self.n_ctx = self.llm.n_ctx()
        self.n_vocab = self.llm.n_vocab()
        self._vocab: VocabIndex | None = None
        self._closed = False
        self._prefixes: OrderedDict[tuple[int, ...], ctypes.Array] = OrderedDict()
        self._prefix_bytes = 0
        self.prefix_hits = 0
        self._held: tuple[int, ...] = ()
        """The static prefix whose canonical KV (one batch from an empty context) the context holds."""

    # -- LogitModel protocol (models/scoring.py) --

    def logits(self) -> np.ndarray:
        ptr = self.llm._ctx.get_logits_ith(-1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,))

    def feed(self, tokens: Sequence[int]) -> None:
        if self.llm.n_tokens + len(tokens) > self.n_ctx:
            raise ContextOverflow(f"{self.path.name}: context of {self.n_ctx} tokens exceeded")
        self.llm.eval(list(tokens))

    @property
    def position(self) -> int:
        return int(self.llm.n_tokens)

    def rewind(self, position: int) -> None:
        # llama-cpp-python's eval() removes KV entries past n_tokens before decoding.
        self.llm.n_tokens = position
        if position < len(self._held):
            self._held = ()

    def refresh(self) -> None:
        last = int(self.llm.input_ids[self.llm.n_tokens - 1])
        self.rewind(self.llm.n_tokens - 1)
        self.feed([last])

    # -- helpers --

    @property
    def vocab(self) -> VocabIndex:
        """Text of every token (special tokens empty), built on first use."""
        if self._vocab is None:
            vocab = self.llm._model.vocab
            buf = ctypes.create_string_buffer(256)
            pieces: list[str] = []
            for tid in range(self.n_vocab):
                n = self._llama_cpp.llama_token_to_piece(vocab, tid, buf, 256, 0, False)
                try:
                    pieces.append(buf.raw[:n].decode("utf-8") if n > 0 else "")
                except UnicodeDecodeError:
                    pieces.append("")  # a partial UTF-8 byte never continues an ASCII label
            self._vocab = VocabIndex(pieces)
        return self._vocab

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)

    def prime(self, tokens: list[int], static: int = 0) -> int:
        """Evaluate a prompt as two batches, the task's static prefix and the rest. Returns tokens evaluated.

        `static` is how many leading tokens are the same for every request of the task.
        Their KV state is computed once, from an empty context in one batch, stored, and
        copied back (or kept, when the context already holds it). The rest is always
        evaluated as one batch after it, never reused from an earlier call: llama.cpp's
        results depend slightly on how a prompt is cut into batches (a batch of one token
        takes another kernel path), and greedy decoding can turn that into a different
        answer. With fixed cuts the answer for a report is the same whatever ran before.
        """
        if len(tokens) >= self.n_ctx:
            raise ContextOverflow(f"{self.path.name}: prompt of {len(tokens)} tokens exceeds n_ctx {self.n_ctx}")
        static = min(static, len(tokens) - 1)  # keep >= 1 token to evaluate: its logits are needed
        evaluated = len(tokens) - static
        key = tuple(tokens[:static])
        if key and key != self._held:
            if not self.restore_prefix(key):
                self.rewind(0)
                self.feed(key)
                self._store_prefix(key)
                evaluated = len(tokens)
            self._held = key
        self.rewind(static)
        self.feed(tokens[static:])
        return evaluated

    def _store_prefix(self, key: tuple[int, ...]) -> None:
        lib, ctx = self._llama_cpp, self.llm._ctx.ctx
        size = lib.llama_state_seq_get_size(ctx, 0)
        if size <= 0 or size > PREFIX_STORE_BYTES:
            return
        buf = (ctypes.c_uint8 * size)()
        if lib.llama_state_seq_get_data(ctx, buf, size, 0) != size:
            return
        self._prefixes[key] = buf
        self._prefix_bytes += size
        while self._prefix_bytes > PREFIX_STORE_BYTES:
            _, old = self._prefixes.popitem(last=False)
            self._prefix_bytes -= len(old)

    def clear_prefixes(self) -> None:
        self._prefixes.clear()
        self._prefix_bytes = 0

    def restore_prefix(self, key: tuple[int, ...]) -> bool:
        """Put the stored KV state of exactly these leading tokens back into the context."""
        buf = self._prefixes.get(key)
        if buf is None:
            return False
        lib, ctx = self._llama_cpp, self.llm._ctx.ctx
        lib.llama_memory_seq_rm(lib.llama_get_memory(ctx), 0, -1, -1)
        if lib.llama_state_seq_set_data(ctx, buf, len(buf), 0) == 0:
            self.rewind(0)  # nothing valid is left in the context: evaluate from scratch
            del self._prefixes[key]
            self._prefix_bytes -= len(buf)
            return False
        self._prefixes.move_to_end(key)
        self.llm.input_ids[: len(key)] = key
        self.llm.n_tokens = len(key)
        self.prefix_hits += 1
        return True

    def is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    def generate(
        self, max_tokens: int, grammar: str | None, viable: Callable[[str], bool] | None = None
    ) -> tuple[list[int], list[float], bool]:
        """Greedy tokens after the primed prompt, each token's probability, and whether the limit was hit.

        `viable` sees the text after every token; False ends the generation there (the
        output can no longer parse, so the rest would be wasted decode steps).

        Written here rather than via create_completion because we need each chosen token's
        probability without logits_all, and llama-cpp-python's logits_processor hook (the
        only other way) is marked "probably broken" in its source.
        """
        gate = (GrammarGate(self._llama_cpp, self.llm._model.vocab, self.llm.n_vocab(), grammar)
                if grammar is not None else None)
        out: list[int] = []
        probs: list[float] = []
        budget = min(max_tokens, self.n_ctx - self.position)
        try:
            while len(out) < budget:
                logits = self.logits()
                tok = gate.choose(logits) if gate else int(np.argmax(logits))
                probs.append(token_probability(logits, tok))
                if self.is_end(tok):
                    return out, probs, False
                if gate is not None:
                    gate.accept(tok)
                out.append(tok)
                if viable is not None and not viable(self.detokenize(out)):
                    return out, probs, False
                self.feed([tok])
            return out, probs, True
        finally:
            if gate is not None:
                gate.close()

    def detokenize(self, tokens: list[int]) -> str:
        return self.llm.detokenize(tokens).decode("utf-8", errors="replace")

    def close(self) -> None:
        with self.lock:
            if not self._closed:
                self.llm.close()
                self._closed = True


def viable_lines(spec: TaskSpec) -> Callable[[str], bool]:
    """Early stop for a line-shaped free answer: can the text so far still parse?

    The complete lines must parse (checked once per new line) and the unfinished one must be
    a prefix of a line the parser accepts (`TaskSpec.line_viable`). An open think block is
    not judged until it closes; the parser removes it.
    """
    assert spec.line_viable is not None
    line_viable = spec.line_viable
    checked = ""

    def ok(text: str) -> bool:
        nonlocal checked
        done, _, partial = text.rpartition("\n")
        if text.rfind("<think>") > text.rfind("</think>") or done.rfind("<think>") > done.rfind("</think>"):
            return True
        if done != checked:
            try:
                if strip_think(spec.name.value, done):
                    spec.parse(done)
            except ParseError:
                return False
            checked = done
        return line_viable(partial)

    return ok


def unless_looping(viable: Callable[[str], bool] | None = None, max_period: int = 4) -> Callable[[str], bool]:
    """Early stop for a line-shaped answer that has started to loop: its last complete lines
    repeat the block of 1-`max_period` lines just before them.

    Greedy decoding that has printed a block twice prints it again until the token limit (the
    demo model filled 200 tokens with one temporal line this way); the repeats carry nothing
    (grounding keeps one of equal items), so the rest would be wasted decode steps. A block
    that is not consecutive ("- None" under two headings) is no loop. Used on the free pass
    and on the grammar pass, whose grammar admits any number of lines.
    """
    lines_seen = 0

    def ok(text: str) -> bool:
        nonlocal lines_seen
        if viable is not None and not viable(text):
            return False
        lines = text.split("\n")[:-1]
        if len(lines) == lines_seen:
            return True
        lines_seen = len(lines)
        return not ends_in_cycle(lines, max_period)

    return ok


def ends_in_cycle(lines: list[str], max_period: int = 4) -> bool:
    """True when the last k lines (some not blank) equal the k before them, for a k <= max_period."""
    for k in range(1, max_period + 1):
        if len(lines) >= 2 * k and lines[-k:] == lines[-2 * k : -k] and any(line.strip() for line in lines[-k:]):
            return True
    return False


class LlamaBackend:
    """Runs catalog tasks with one manifest entry on a (possibly shared) LoadedModel."""

    def __init__(self, entry: ModelEntry, model: LoadedModel) -> None:
        self.entry = entry
        self.model = model
        self.identity = ModelIdentity(
            model_id=entry.id, sha256=model.sha256, backend="llama_cpp", role=entry.role, demo=entry.demo
        )
        self._static: dict[TaskName, list[int]] = {}

    def run(self, spec: TaskSpec, request: TaskRequest) -> TaskResult:
        prompt = spec.prompt(request, think_prefill=self.entry.think_prefill)
        with self.model.lock:
            started = time.perf_counter()
            tokens = self.model.tokenize(prompt, special=True)
            static = self.static_length(spec, tokens)
            if spec.decoding == "labels":
                value, raw, conf, n_prompt, n_gen = self._labels(spec, tokens, static)
            elif spec.decoding == "skeleton":
                value, raw, conf, n_prompt, n_gen = self._skeleton(spec, tokens, static)
            else:
                value, raw, conf, n_prompt, n_gen = self._free(spec, tokens, static)
            latency = (time.perf_counter() - started) * 1000.0
        return build_result(spec, request, value, identity=self.identity, prompt=prompt, raw_output=raw,
                            confidence=conf, tokens_prompt=n_prompt, tokens_generated=n_gen, latency_ms=latency)

    def static_length(self, spec: TaskSpec, tokens: list[int]) -> int:
        """How many leading prompt tokens are the task's static prefix.

        Tokenizing the prefix alone can split its last characters differently from the
        whole prompt (BPE merges across the boundary), so the common token prefix counts.
        """
        static = self._static.get(spec.name)
        if static is None:
            static = self.model.tokenize(spec.static_prefix(think_prefill=self.entry.think_prefill), special=True)
            self._static[spec.name] = static
        return common_prefix(static, tokens)

    def _labels(self, spec: TaskSpec, tokens: list[int], static: int):  # noqa: ANN202 - internal tuple
        self.model.prime(tokens, static)
        scored = score_labels(self.model, self.model.vocab, spec.surfaces)
        return spec.parse(scored.surface), scored.surface, scored.probability, len(tokens), len(scored.tokens)

    def _skeleton(self, spec: TaskSpec, tokens: list[int], static: int):  # noqa: ANN202
        self.model.prime(tokens, static)
        n_prompt = len(tokens)
        pending: list[int] = []
        lines: list[str] = []
        logp = 0.0
        n_gen = 0
        for i, name in enumerate(spec.skeleton):
            chunk = self.model.tokenize(spec.skeleton_line(i), special=False)
            self.model.feed(pending + chunk)
            n_prompt += len(chunk)
            scored = score_labels(self.model, self.model.vocab, spec.surfaces)
            pending = scored.pending
            n_gen += len(scored.tokens)
            logp += math.log(max(scored.probability, 1e-12))
            lines.append(f"- {name}:{scored.surface}")
        raw = "\n".join(lines)
        # Confidence of the whole list: geometric mean of the 14 slot probabilities.
        return spec.parse(raw), raw, math.exp(logp / len(spec.skeleton)), n_prompt, n_gen

    def _free(self, spec: TaskSpec, tokens: list[int], static: int):  # noqa: ANN202
        first_error: ParseError | None = None
        n_gen = 0
        for grammar in (None, spec.grammar):
            if first_error is not None and grammar is None:
                break
            self.model.prime(tokens, static)
            early = None
            if spec.line_viable is not None:
                early = unless_looping(viable_lines(spec) if grammar is None else None)
            out, probs, truncated = self.model.generate(spec.max_tokens, grammar, early)
            n_gen += len(out)
            raw = self.model.detokenize(out)
            text = drop_incomplete_tail(spec.name.value, raw) if truncated else raw
            try:
                value = spec.parse(text)
            except ParseError as exc:
                if first_error is None:
                    first_error = exc
                    continue
                raise exc from first_error
            conf = math.exp(sum(math.log(max(p, 1e-12)) for p in probs) / max(1, len(probs)))
            return value, raw, conf, len(tokens), n_gen
        assert first_error is not None
        raise first_error

    def close(self) -> None:
        self.model.close()
