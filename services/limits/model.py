"""Limit policies (what an org, key or bridge allows) and the checks built from them.

Money is counted in micro-dollars (integers), so Redis INCRBY stays exact: a float
counter drifts by ~1e-16 per add and never equals the cap it should hit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MICRO = 1_000_000


class RatePolicy(BaseModel):
    """Requests and tokens per minute, and calls in flight, for one subject."""

    model_config = ConfigDict(extra="forbid")
    requests_per_minute: int | None = Field(default=None, ge=1, le=10_000_000, strict=True)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=1_000_000_000, strict=True)
    concurrency: int | None = Field(default=None, ge=1, le=100_000, strict=True)


class LimitPolicy(RatePolicy):
    """What one org, key or bridge may use. Unset fields do not limit.

    `per_user` and `per_thread` apply to each end user (`payload.user`) and each thread
    (`thread_id`) seen under this subject.
    """

    daily_budget_usd: float | None = Field(default=None, ge=0, le=10_000_000, strict=True)
    monthly_budget_usd: float | None = Field(default=None, ge=0, le=100_000_000, strict=True)
    per_user: RatePolicy | None = None
    per_thread: RatePolicy | None = None


class SubjectKind(StrEnum):
    ORG = "org"
    KEY = "key"
    BRIDGE = "bridge"
    USER = "user"
    THREAD = "thread"


@dataclass(frozen=True)
class RateCheck:
    """Take `cost` units from a GCRA bucket allowing `limit` per `window_s`."""

    key: str
    name: str
    limit: int
    window_s: float
    cost: int
    unit: str = "requests"


@dataclass(frozen=True)
class BudgetCheck:
    """Reserve `estimate` micro-USD against `cap` micro-USD for one period of the budget
    that (`subject`, `subject_id`) configures (org, key or bridge)."""

    key: str
    name: str
    cap: int
    estimate: int
    ttl_s: int
    subject: str = ""
    subject_id: str = ""
    period: str = ""


@dataclass(frozen=True)
class RateState:
    check: RateCheck
    remaining: int
    reset_s: float


@dataclass
class Admission:
    """The store's answer: either everything was taken, or nothing and why not."""

    allowed: bool
    rates: list[RateState] = field(default_factory=list)
    # The first refusing check's name and how long until it would pass.
    refused_by: str | None = None
    retry_after_s: float = 0.0
    budget_refused: bool = False


@dataclass(frozen=True)
class Crossing:
    """A budget reached `percent` (80 or 100) of its cap with this charge."""

    name: str
    key: str
    percent: int
    spent: int
    cap: int


THRESHOLDS = (80, 100)


def reached(spent: int, cap: int) -> list[int]:
    """The thresholds `spent` has reached. The stores keep a marker per budget period and
    threshold (in the period's own record, so it expires with it) and report each once."""
    return [p for p in THRESHOLDS if cap > 0 and spent * 100 >= cap * p]
