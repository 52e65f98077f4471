"""Task routing: which model role answers which task.

The default is the RadLite paper's "task-routed oracle ensemble" (best model per task on
its test sets; N and M staging tie and go to the generation model).
"""

from __future__ import annotations

from typing import Literal

from models.types import TaskName

__all__ = ["Role", "PAPER_ROUTING", "paper_role"]

Role = Literal["generation", "extraction"]

PAPER_ROUTING: dict[TaskName, Role] = {
    TaskName.rads_assignment: "generation",
    TaskName.impression_generation: "generation",
    TaskName.radiology_nli: "generation",
    TaskName.radiology_qa: "generation",
    TaskName.n_staging: "generation",
    TaskName.m_staging: "generation",
    TaskName.temporal_comparison: "extraction",
    TaskName.abnormality_detection: "extraction",
    TaskName.radiology_ner: "extraction",
}


def paper_role(task: TaskName) -> Role:
    """The role (Qwen2.5-3B generation or Qwen3-4B extraction) the paper routes `task` to."""
    return PAPER_ROUTING[task]
