"""The usage analytics service behind GET /api/v1/usage.

Parameters arrive as raw strings and are validated here, so every caller (the HTTP route,
tests, the embedded backend) gets the same 422s naming the field. Times without a zone are
UTC; a bare date means its midnight UTC. The range is start-inclusive, end-exclusive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from services.errors import Invalid
from services.metrics.schemas import GroupBy, UsageReport
from services.metrics.sink import MetricsSink

# With no `from`, the last 30 days: a billing period.
DEFAULT_RANGE = timedelta(days=30)
# Percentiles read raw rows; a year bounds the worst query (TimescaleDB keeps 90 days raw).
MAX_RANGE = timedelta(days=366)


def parse_time(value: str, field: str) -> datetime:
    """An ISO-8601 date or date-time; naive values are UTC. Invalid(field=...) otherwise."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except ValueError as exc:
        message = f"{field} is not an ISO-8601 date or date-time: {value!r}"
        raise Invalid(message, field=field) from exc
    except OverflowError as exc:  # e.g. 9999-12-31T23:00:00-05:00 is past year 9999 in UTC
        raise Invalid(f"{field} is out of the supported range: {value!r}", field=field) from exc


def parse_group_by(value: str) -> GroupBy:
    try:
        return GroupBy(value.strip().lower())
    except ValueError as exc:
        allowed = ", ".join(g.value for g in GroupBy)
        raise Invalid(f"group_by must be one of {allowed}", field="group_by") from exc


def resolve_range(
    start: str | None, end: str | None, *, now: datetime | None = None,
) -> tuple[datetime, datetime]:
    """The [from, to) range from the query; defaults to the 30 days up to now."""
    to = parse_time(end, "to") if end else (now or datetime.now(UTC))
    if start:
        frm = parse_time(start, "from")
    elif to - datetime.min.replace(tzinfo=UTC) < DEFAULT_RANGE:
        raise Invalid("to is too early for the default range; give from as well", field="to")
    else:
        frm = to - DEFAULT_RANGE
    if frm > to:
        raise Invalid("from must not be after to", field="from")
    if to - frm > MAX_RANGE:
        raise Invalid(f"the range may span at most {MAX_RANGE.days} days", field="from")
    return frm, to


async def usage_report(
    sink: MetricsSink, org_id: str, *, start: str | None, end: str | None, group_by: str | None,
) -> UsageReport:
    """Usage of `org_id` over the range, grouped; only that org's rows are read."""
    frm, to = resolve_range(start, end)
    grouping = parse_group_by(group_by) if group_by else GroupBy.DAY
    return await sink.usage(org_id, frm, to, grouping)
