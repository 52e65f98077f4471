"""CDS Hooks 2.0: wire types, cards from an Analysis, and the RADS guideline management table."""

from adapters.cds.cards import CardFor, order_cards, pending_card, report_cards
from adapters.cds.guidelines import Guideline, guideline_for
from adapters.cds.models import Card, CdsRequest, CdsResponse, FeedbackRequest, ServiceDefinition, wire

__all__ = [
    "Card",
    "CardFor",
    "CdsRequest",
    "CdsResponse",
    "FeedbackRequest",
    "Guideline",
    "ServiceDefinition",
    "guideline_for",
    "order_cards",
    "pending_card",
    "report_cards",
    "wire",
]
