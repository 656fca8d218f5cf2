"""A labelled metric keeps each child it made, and what the child counts is exported."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

from services.observability.prom import JOBS


def test_children_are_kept_and_counted_in_the_registry() -> None:
    child = JOBS.labels("labelled-test", "succeeded")
    assert JOBS.labels("labelled-test", "succeeded") is child
    child.inc(3)
    JOBS.labels("labelled-test", "succeeded").inc()
    exported = generate_latest(REGISTRY).decode()
    assert 'aim_jobs_total{kind="labelled-test",status="succeeded"} 4.0' in exported
