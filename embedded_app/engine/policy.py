"""Per-company collections policy: every number the engine uses, with defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .money import to_cents

NOT_LEGAL_ADVICE = (
    "Deadline rules are examples kept as configurable data with their source notes; they are not legal advice. "
    "Check the statute and the contract, or ask counsel, before relying on a date."
)


@dataclass(frozen=True, slots=True)
class LegalRule:
    """A lien or prompt-payment deadline rule for projects in one state (or federal projects).

    ``start`` says where the clock starts:
      * ``"billing_date"`` — each open invoice's billing date + ``days``;
      * ``"completion"`` — the contract's substantial completion date + ``days``;
      * ``"billing_month"`` — day ``day_of_month`` of the ``month_offset``-th month after the billing month.
    The flag is raised when the deadline is ``warn_days`` or fewer days away; with ``flag_when_passed`` also after
    it passed (prompt-payment interest keeps running).
    """

    code: str
    state: str  # two-letter state code, or "FED" for projects listed in Policy.federal_project_ids
    kind: str  # "prompt_pay" | "lien" | "notice"
    label: str
    start: str
    days: int = 0
    month_offset: int = 0
    day_of_month: int = 0
    warn_days: int = 14
    flag_when_passed: bool = False
    source: str = ""


DEFAULT_LEGAL_RULES: tuple[LegalRule, ...] = (
    LegalRule(
        code="TX_PROMPT_PAY_PRIVATE", state="TX", kind="prompt_pay", label="Texas private prompt payment",
        start="billing_date", days=35, warn_days=7, flag_when_passed=True,
        source="Tex. Prop. Code ch. 28 (§28.002: private owner pays within 35 days after receiving the request; "
               "§28.004: interest 1.5 % a month). Example rule — not legal advice.",
    ),
    LegalRule(
        code="AL_PROMPT_PAY_PRIVATE", state="AL", kind="prompt_pay", label="Alabama private prompt payment",
        start="billing_date", days=30, warn_days=7, flag_when_passed=True,
        source="Ala. Code §8-29-3 (private owner pays within 30 days; interest 1 % a month). Example rule — not "
               "legal advice.",
    ),
    LegalRule(
        code="FED_PROMPT_PAY", state="FED", kind="prompt_pay", label="Federal prompt payment (progress payments)",
        start="billing_date", days=14, warn_days=5, flag_when_passed=True,
        source="Prompt Payment Act, 31 U.S.C. §3903 / FAR 52.232-27 (14 days for progress payments). Example rule "
               "— not legal advice.",
    ),
    LegalRule(
        code="CA_LIEN", state="CA", kind="lien", label="California mechanics lien",
        start="completion", days=90, warn_days=30,
        source="Cal. Civ. Code §8412 (claimant records a lien within 90 days after completion; 30/60 days after a "
               "recorded notice of completion/cessation). Example rule — not legal advice.",
    ),
    LegalRule(
        code="TX_LIEN_NOTICE", state="TX", kind="notice", label="Texas lien notice",
        start="billing_month", month_offset=3, day_of_month=15, warn_days=14,
        source="Tex. Prop. Code §53.056 (notice by the 15th day of the 3rd month after the month of unpaid work). "
               "Example rule — not legal advice.",
    ),
    LegalRule(
        code="FED_MILLER_ACT", state="FED", kind="lien", label="Miller Act payment-bond claim",
        start="completion", days=90, warn_days=30,
        source="Miller Act, 40 U.S.C. §3133(b) (notice within 90 days after last labour or material). Example "
               "rule — not legal advice.",
    ),
)


@dataclass(frozen=True)
class Policy:
    """Every number the engine uses. Defaults follow issue 4; each can be set per company.

    Money fields are ``Decimal`` dollars (strings and numbers are accepted and converted).
    """

    # Terms and aging
    default_terms_days: int = 30
    bucket_edges: tuple[int, int, int] = (30, 60, 90)  # 1–30, 31–60, 61–90, 91+
    # Dunning ladder: days past due at which each stage starts; reminder starts N days before the due date
    reminder_days_before_due: int = 7
    first_notice_from: int = 1
    second_notice_from: int = 16
    final_notice_from: int = 46
    call_from: int = 61
    min_contact_gap_days: int = 7
    small_balance_tolerance: Decimal = Decimal("50.00")
    # Promises
    promise_grace_days: int = 3
    # Needs-a-call flags
    call_threshold_61_plus: Decimal = Decimal("5000.00")
    final_notice_reply_days: int = 7
    concentration_pct: Decimal = Decimal("25")
    concentration_min_customers: int = 2
    legal_rules: tuple[LegalRule, ...] = DEFAULT_LEGAL_RULES
    federal_project_ids: frozenset[int] = frozenset()
    legal_note: str = NOT_LEGAL_ADVICE
    # Call score weights (points); see docs/aging.md "Ranking the call list"
    score_flag_points: dict[str, int] = field(default_factory=lambda: {
        "broken_promise": 30, "deadline": 25, "over_61_days": 20, "final_notice_no_reply": 15,
        "disputed": 10, "no_email": 10, "concentration": 10,
    })
    score_past_due_per_point: Decimal = Decimal("2500.00")
    score_past_due_max: int = 40
    score_age_days_per_point: int = 3
    score_age_max: int = 30
    score_promise_history_max: int = 15
    # Metrics
    simple_dso_days: int = 90
    countback_max_months: int = 24
    history_months: int = 12

    def __post_init__(self) -> None:
        for name in ("small_balance_tolerance", "call_threshold_61_plus", "concentration_pct",
                     "score_past_due_per_point"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                object.__setattr__(self, name, Decimal(str(value)))
        if not (self.first_notice_from <= self.second_notice_from <= self.final_notice_from <= self.call_from):
            raise ValueError("stage boundaries must be in order: first ≤ second ≤ final ≤ call")
        a, b, c = self.bucket_edges
        if not 0 < a < b < c:
            raise ValueError("bucket_edges must be increasing positive day counts")

    @property
    def tolerance_cents(self) -> int:
        return to_cents(self.small_balance_tolerance)

    @property
    def call_threshold_cents(self) -> int:
        return to_cents(self.call_threshold_61_plus)
