"""plan: universe selection and subscription packing (pure functions of values)."""

from gatherer.plan.explain import explain
from gatherer.plan.pack import ConnectionPlan, Limits, Plan, pack
from gatherer.plan.select import Registration, Selection, chunk, select, select_with_notes

__all__ = [
    "ConnectionPlan",
    "Limits",
    "Plan",
    "Registration",
    "Selection",
    "chunk",
    "explain",
    "pack",
    "select",
    "select_with_notes",
]
