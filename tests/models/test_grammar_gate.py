"""The grammar gate picks exactly the token llama-cpp-python's grammar+greedy sampler chain
picks, while running the full-vocabulary grammar pass only when the top token is refused."""

from __future__ import annotations

import numpy as np
import pytest

from models.backends.grammar import GrammarGate
from models.backends.llama import LlamaBackend
from models.catalog import CATALOG
from models.types import RadiologyReport, TaskName, TaskRequest

GRAMMAR_TASKS = [t for t in TaskName if CATALOG[t].grammar]
STEPS = 48


def _chain(model, grammar: str):  # type: ignore[no-untyped-def]
    """The reference: llama-cpp-python's sampler chain (grammar over the whole vocabulary, then greedy)."""
    from llama_cpp import LlamaGrammar
    from llama_cpp._internals import LlamaSampler

    sampler = LlamaSampler()
    sampler.add_grammar(model.llm._model, LlamaGrammar.from_string(grammar, verbose=False))
    sampler.add_greedy()
    return sampler


def test_grammar_tasks_exist() -> None:
    assert {TaskName.temporal_comparison, TaskName.radiology_ner} <= set(GRAMMAR_TASKS)


@pytest.mark.parametrize("task", GRAMMAR_TASKS, ids=lambda t: t.value)
def test_gate_equals_the_sampler_chain_on_dev_reports(
    demo_backend: LlamaBackend, dev_report_objects: dict[str, RadiologyReport], task: TaskName
) -> None:
    model, spec = demo_backend.model, CATALOG[task]
    full_passes = checked = 0
    with model.lock:
        for report in list(dev_report_objects.values())[:4]:
            request = TaskRequest(task=task, report=report, question="Is there a fracture?")
            model.prime(model.tokenize(spec.prompt(request), special=True))
            # Both samplers decide on the very same logits at every step (lockstep), so a
            # difference can only come from the sampling, never from re-evaluated numerics.
            chain = _chain(model, spec.grammar)
            gate = GrammarGate(model._llama_cpp, model.llm._model.vocab, model.llm.n_vocab(), spec.grammar)
            try:
                for _ in range(STEPS):
                    expected = chain.sample(model.llm._ctx, -1)  # the chain accepts its own pick
                    tok = gate.choose(model.logits())
                    assert tok == expected, (report.report_id, checked)
                    checked += 1
                    if model.is_end(tok):
                        break
                    gate.accept(tok)
                    model.feed([tok])
            finally:
                full_passes += gate.full_passes
                gate.close()
                chain.close()
    assert checked > 0
    assert full_passes < checked  # the whole-vocabulary pass is the exception, not every step


def test_gate_refuses_what_the_grammar_refuses(demo_backend: LlamaBackend) -> None:
    model = demo_backend.model
    vocab = model.vocab
    yes = next(i for i, t in enumerate(vocab.text_of) if t == "yes")
    no = next(i for i, t in enumerate(vocab.text_of) if t == "no")
    gate = GrammarGate(model._llama_cpp, model.llm._model.vocab, model.llm.n_vocab(), 'root ::= "no"')
    try:
        assert gate.allows(no) and not gate.allows(yes)
        logits = np.zeros(model.llm.n_vocab(), dtype=np.float32)
        logits[yes] = 10.0  # the model wants "yes"; the grammar only admits "no" (or its prefix "n")
        logits[no] = 5.0
        assert gate.choose(logits) == no and gate.full_passes == 1
    finally:
        gate.close()


@pytest.mark.parametrize(
    ("text", "admitted"),
    [
        ("Stable <6 mm nodule.", True),
        ("Nodule < 1 cm.", True),
        ("<5 mm", True),
        ("Normal.<|im_start|>user", False),
        ("<think>x</think>", False),
        (" Normal.", False),  # the answer does not start blank
    ],
)
def test_free_text_grammar_admits_less_than_but_no_special_token(
    demo_backend: LlamaBackend, text: str, admitted: bool
) -> None:
    """The retry grammar of impressions and answers keeps "<6 mm" and refuses what opens a special token or tag."""
    model = demo_backend.model
    gate = GrammarGate(model._llama_cpp, model.llm._model.vocab, model.llm.n_vocab(),
                       CATALOG[TaskName.impression_generation].grammar)
    try:
        ok = True
        for ch in text:  # one character at a time: the vocabulary holds every printable ASCII character
            tok = next(i for i, t in enumerate(model.vocab.text_of) if t == ch)
            if not gate.allows(tok):
                ok = False
                break
            gate.accept(tok)
        assert ok == admitted
    finally:
        gate.close()
