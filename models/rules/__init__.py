"""Deterministic rules: what a radiology report states explicitly (RADS, TNM, CheXpert
labels, critical results, follow-ups, laterality). Explicit statements win over model
guesses in the ensemble; see docs/rules.md.
"""

from models.rules.engine import RULES_IDENTITY, RULES_VERSION, RulesEngine, rules_input_hash

__all__ = ["RULES_IDENTITY", "RULES_VERSION", "RulesEngine", "rules_input_hash"]
