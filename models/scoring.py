"""Label scoring from logits: classification answers that are valid by construction.

Why not free generation plus parsing: a label task (RADS, N, M, NLI) has a closed answer
set. Scoring it from the model's next-token logits never produces an invalid label, needs
no `logits_all` (1.16 GiB per Qwen model at n_ctx 2048) and yields the label's probability.

How (a token trie, walked lazily over characters):
the answer strings the model may print (`surfaces`: "BI-RADS 4A", "LI-RADS 5", "LR-5",
their upper/lower case forms ...) form a character trie. At each step the allowed tokens
are the vocabulary entries whose text continues the printed prefix along some surface;
they are found by looking up every prefix of every remaining suffix in a text->ids table
of the vocabulary, so any tokenization the model might use ("4A" or "4"+"A") is allowed,
and nothing else. The step reads the logits of the last evaluated position:

- inside a label, the most likely allowed token is taken (constrained greedy);
- where a complete label could also continue ("BI-RADS 4" vs "BI-RADS 4A"), the label
  continues only if the unconstrained most likely token is an allowed continuation, and
  ends otherwise. This is exactly what plain greedy decoding followed by the parser does,
  so on every output the published model would print well-formed, the scored label equals
  the greedy one (tests/models/test_equivalence.py checks this against the demo model).

Branch probabilities use the full-vocabulary softmax: inside a label the allowed tokens'
probabilities renormalised among themselves; at a complete label the continuation tokens
keep their own probability and "end here" gets the remaining mass. The answer's
confidence is the product of its branch probabilities, so the probabilities of all
labels sum to at most 1 (exactly 1 up to rounding, see `label_distribution`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

__all__ = ["LogitModel", "VocabIndex", "ScoredLabel", "score_labels", "label_distribution"]


class LogitModel(Protocol):
    """The few operations label scoring needs from a loaded model."""

    def logits(self) -> np.ndarray:
        """Next-token logits after the last evaluated token (a view; valid until the next feed)."""
        ...

    def feed(self, tokens: Sequence[int]) -> None:
        """Evaluate tokens after the current position."""
        ...

    @property
    def position(self) -> int:
        """Number of tokens evaluated in the context."""
        ...

    def rewind(self, position: int) -> None:
        """Forget every token after `position` (the next feed overwrites them; logits go stale)."""
        ...

    def refresh(self) -> None:
        """Re-evaluate the last token so that `logits()` belongs to the current position again."""
        ...


class VocabIndex:
    """Vocabulary text -> token ids, built once per model file (49k-152k entries, under a second)."""

    def __init__(self, pieces: Sequence[str]) -> None:
        self.by_text: dict[str, list[int]] = {}
        for tid, text in enumerate(pieces):
            if text:
                self.by_text.setdefault(text, []).append(tid)
        self.text_of = list(pieces)

    def continuations(self, remaining: set[str]) -> dict[int, str]:
        """Token ids (with their text) that are a non-empty prefix of some remaining suffix."""
        out: dict[int, str] = {}
        for suffix in remaining:
            for n in range(1, len(suffix) + 1):
                for tid in self.by_text.get(suffix[:n], ()):
                    out[tid] = suffix[:n]
        return out


@dataclass
class ScoredLabel:
    """The chosen surface, its probability, the tokens chosen and the one not yet evaluated."""

    surface: str
    probability: float
    tokens: list[int] = field(default_factory=list)
    steps: int = 0
    """Decode steps spent (evaluations of chosen tokens)."""
    pending: list[int] = field(default_factory=list)
    """Chosen tokens not evaluated yet (the last one): feed them before reading further logits."""


def _softmax_parts(logits: np.ndarray, ids: list[int]) -> tuple[np.ndarray, float]:
    """Full-vocabulary probabilities of `ids`.

    exp in float32 with a float64 sum: a float64 copy of a 49k-151k vocabulary row cost
    about 0.3 ms per decode step, a visible share of it on the demo model.
    """
    m = logits.max()
    z = float(np.exp(logits - m).sum(dtype=np.float64))
    return np.exp(logits[ids].astype(np.float64) - float(m)) / z, z


def token_probability(logits: np.ndarray, token: int) -> float:
    """softmax(logits)[token] over the whole vocabulary."""
    return float(_softmax_parts(logits, [token])[0][0])


def score_labels(model: LogitModel, vocab: VocabIndex, surfaces: Sequence[str]) -> ScoredLabel:
    """Greedy-equivalent constrained choice of one surface; the model must have the prompt evaluated.

    The last chosen token is left in `pending` (not evaluated): a caller that only needs
    the label saves one decode step, a caller that continues (skeleton) feeds it.
    """
    live = set(surfaces)
    printed = ""
    prob = 1.0
    chosen: list[int] = []
    steps = 0
    pending: list[int] = []
    while True:
        if pending:
            model.feed(pending)
            steps += 1
            pending = []
        remaining = {s[len(printed):] for s in live if len(s) > len(printed)}
        allowed = vocab.continuations(remaining)
        complete = printed in live
        if not allowed:
            break
        logits = model.logits()
        ids = list(allowed)
        p, _ = _softmax_parts(logits, ids)
        if complete:
            top = int(np.argmax(logits))
            if top not in allowed:
                prob *= max(0.0, 1.0 - float(p.sum()))
                break
            pick = ids.index(top)
            prob *= float(p[pick])
        else:
            pick = int(np.argmax(p))
            prob *= float(p[pick] / p.sum())
        tid = ids[pick]
        printed += allowed[tid]
        chosen.append(tid)
        pending = [tid]
        live = {s for s in live if s.startswith(printed)}
        if printed in live and not any(len(s) > len(printed) for s in live):
            break
    return ScoredLabel(surface=printed, probability=prob, tokens=chosen, steps=steps, pending=pending)


def label_distribution(
    model: LogitModel, vocab: VocabIndex, surfaces: Sequence[str], *, min_prob: float = 1e-3
) -> dict[str, float]:
    """Probability of the reachable surfaces under the same branch rule (for tests and audits).

    Walks the trie with rewinds, one decode step per visited node. A label can be spelled
    by many token sequences ("neutral" = "neutral" or "ne"+"utral" ...), so the number of
    paths grows fast; branches whose path probability falls below `min_prob` are not
    explored and their mass is left out. The values therefore sum to at most 1.
    """
    out: dict[str, float] = {}
    base = model.position

    def visit(printed: str, live: set[str], prob: float) -> None:
        remaining = {s[len(printed):] for s in live if len(s) > len(printed)}
        allowed = vocab.continuations(remaining)
        complete = printed in live
        if not allowed:
            out[printed] = out.get(printed, 0.0) + prob
            return
        logits = np.array(model.logits(), copy=True)
        ids = list(allowed)
        p, _ = _softmax_parts(logits, ids)
        if complete:
            out[printed] = out.get(printed, 0.0) + prob * max(0.0, 1.0 - float(p.sum()))
            branch = p
        else:
            branch = p / p.sum()
        here = model.position
        for tid, bp in zip(ids, branch, strict=True):
            if prob * float(bp) < min_prob:
                continue
            nxt = printed + allowed[tid]
            model.rewind(here)
            model.feed([tid])
            visit(nxt, {s for s in live if s.startswith(nxt)}, prob * float(bp))
        model.rewind(here)

    visit("", set(surfaces), 1.0)
    model.rewind(base)
    model.refresh()
    return out
