"""The collections engine: pure functions over plain data (no Flask, no HTTP, no SQLite; stdlib only).

``compute(receivables, as_of, policy, promises=…, contacts=…, disputes=…)`` turns the receivables of one company
(the dict ``embedded_app.store.cache.load_receivables`` returns) into an ``AgingReport``: aging buckets per
customer and invoice, retainage, dunning stages, the ranked needs-a-call list, tasks and AR metrics.
Rules are documented for bookkeepers in docs/aging.md.
"""

from __future__ import annotations

from .compute import compute
from .ladder import stage_for
from .metrics import cei, countback_dso, ratio_dso
from .model import (
    BUCKETS,
    STAGES,
    AgingReport,
    CallItem,
    Contact,
    ContractAging,
    CustomerAging,
    Dispute,
    DsoBridge,
    Flag,
    Invoice,
    Metrics,
    MonthPoint,
    NextAction,
    ProjectStage,
    Promise,
    PromiseOutcome,
    ScoreComponent,
    Task,
)
from .money import fmt, to_cents, to_decimal
from .policy import DEFAULT_LEGAL_RULES, NOT_LEGAL_ADVICE, LegalRule, Policy
from .promises import evaluate_promises
from .terms import Terms, parse_terms

__all__ = [
    "BUCKETS", "DEFAULT_LEGAL_RULES", "NOT_LEGAL_ADVICE", "STAGES", "AgingReport", "CallItem", "Contact",
    "ContractAging", "CustomerAging", "Dispute", "DsoBridge", "Flag", "Invoice", "LegalRule", "Metrics",
    "MonthPoint", "NextAction", "Policy", "ProjectStage", "Promise", "PromiseOutcome", "ScoreComponent", "Task",
    "Terms", "cei", "compute", "countback_dso", "evaluate_promises", "fmt", "parse_terms", "ratio_dso",
    "stage_for", "to_cents", "to_decimal",
]
