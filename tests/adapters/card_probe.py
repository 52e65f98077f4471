"""Reading CDS cards in the output-round tests: cards of one topic, and the resources they suggest.

Imported by tests/adapters/test_outputs_round4.py and test_outputs_round5.py.
"""

from __future__ import annotations

from typing import Any

from adapters.cds.models import Card


def topic(cards: list[Card], code: str) -> list[Card]:
    return [c for c in cards if c.source.topic and c.source.topic.code == code]


def suggested(card: Card, kind: str) -> list[dict[str, Any]]:
    """The resources of `kind` (resourceType) that the card's suggestions would create or update."""
    return [
        a.resource
        for s in card.suggestions or []
        for a in s.actions or []
        if a.resource and a.resource["resourceType"] == kind
    ]
