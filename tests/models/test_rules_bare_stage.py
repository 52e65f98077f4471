"""A bare N stage right after the nodes it grades is stated; not when the nodes are denied or it names a station."""

from __future__ import annotations

import pytest

from models.rules.tnm import stated_n


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("IMPRESSION:\n1. Pancreatic head mass with regional nodal metastases, N2.", "N2"),
        ("Three pericolic lymph nodes, N1b.", "N1"),
        ("Ipsilateral mediastinal adenopathy N2.", "N2"),
        ("No suspicious lymph nodes, N0.", "N0"),
        ("No lymph nodes N2 station.", None),
        ("Enlarged lymph nodes in station N2.", None),
        ("Regional lymph nodes possibly involved, N1?", None),
    ],
)
def test_bare_stage_after_its_nodes(text: str, stage: str | None) -> None:
    found = stated_n(text)
    assert (found.stage if found and found.kind == "stated" else None) == stage
