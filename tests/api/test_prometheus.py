"""GET /metrics on the API: requests counted per route template, never per raw path."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.platform import platform


def samples(text: str, name: str) -> list[dict[str, str]]:
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples
            if s.name == name]


async def test_requests_are_labelled_by_route_template(unique: str, tmp_path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        job = (await p.submit("hi")).json()
        await p.client.get(f"/api/v1/jobs/{job['id']}", headers=p.org_a)
        # Letters, not digits: a digit string can occur inside a float timestamp.
        await p.client.get("/no/such/path/unrouted-zq")
        got = await p.client.get("/metrics")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
    assert job["id"] not in got.text and "unrouted-zq" not in got.text
    counted = samples(got.text, "aim_http_requests_total")
    assert {"route": "/api/v1/jobs/{job_id}", "method": "GET", "status": "2xx"} in counted
    assert {"route": "/api/v1/jobs", "method": "POST", "status": "2xx"} in counted
    assert {"route": "unmatched", "method": "GET", "status": "4xx"} in counted
    timed = samples(got.text, "aim_http_request_duration_seconds_count")
    assert {"route": "/api/v1/jobs/{job_id}", "method": "GET"} in timed
