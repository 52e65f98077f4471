"""Greedy decoding under a GBNF grammar that asks llama.cpp's grammar only about the top token.

llama-cpp-python's sampler chain (grammar, then greedy) runs the grammar over the whole
vocabulary at every step: on the demo model that pass costs more than the decode itself
(+40-55 % per call on temporal comparison and NER in `benchmarks/`). llama.cpp's own
`common_sampler` avoids it by sampling first and asking the grammar about the chosen token
only; the full pass runs when that token is refused. We do the same with llama.cpp's
grammar sampler (`llama_sampler_init_grammar`), which llama-cpp-python exposes but does
not use this way. The answer is the same token as the chain's: the greedy choice among the
tokens the grammar admits (tests/models/test_grammar_gate.py compares both on the dev set).
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

__all__ = ["GrammarGate"]

# llama_token_data as numpy sees it (int32 id, float logit, float p), so the full pass can
# be filled from the logits row without a Python loop.
_TOKEN_DATA = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])


class GrammarGate:
    """One grammar's parse state over one generation: `choose` the next token, then `accept` it."""

    def __init__(self, llama_cpp: Any, vocab: Any, n_vocab: int, grammar: str, root: str = "root") -> None:
        self._lib = llama_cpp
        self._smpl = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), root.encode("utf-8"))
        if not self._smpl:
            raise ValueError("llama.cpp refused the grammar")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._all = np.zeros(n_vocab, dtype=_TOKEN_DATA)
        self._all["id"] = np.arange(n_vocab, dtype=np.int32)
        self.full_passes = 0

    def _apply(self, data: Any, size: int) -> None:
        array = self._lib.llama_token_data_array(data=data, size=size, selected=-1, sorted=False)
        self._lib.llama_sampler_apply(self._smpl, ctypes.byref(array))

    def allows(self, token: int) -> bool:
        """Whether the grammar admits `token` next (the cheap check: one candidate)."""
        self._one[0].id, self._one[0].logit, self._one[0].p = token, 0.0, 0.0
        self._apply(self._one, 1)
        return self._one[0].logit != float("-inf")

    def choose(self, logits: np.ndarray) -> int:
        """The most likely token the grammar admits."""
        top = int(np.argmax(logits))
        if self.allows(top):
            return top
        self.full_passes += 1
        self._all["logit"] = logits
        self._all["p"] = 0.0
        self._apply(self._all.ctypes.data_as(ctypes.POINTER(self._lib.llama_token_data)), len(self._all))
        allowed = self._all["logit"]
        if not np.isfinite(allowed).any():
            raise ValueError("the grammar admits no token here")
        return int(np.argmax(allowed))

    def accept(self, token: int) -> None:
        self._lib.llama_sampler_accept(self._smpl, token)

    def close(self) -> None:
        if self._smpl:
            self._lib.llama_sampler_free(self._smpl)
            self._smpl = None
