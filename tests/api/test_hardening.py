"""Client input that used to answer 500 or crash a job later: each is a 4xx naming the field."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from tests.platform import Platform, platform

RUN = "/api/v2/model/chat/completion"
BRIDGES = "/api/v1/config/bridges"


def nested(levels: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(levels):
        node["a"] = {}
        node = node["a"]
    return root


@pytest.fixture
async def p(unique: str, tmp_path: Path) -> Any:
    async with platform("embedded", unique, tmp_path) as running:
        yield running


async def post_raw(p: Platform, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    # json.dumps escapes a lone surrogate as \ud800, as a JavaScript client would send it.
    return await p.client.post(path, content=json.dumps(body).encode(),
                               headers={**(headers or p.org_a), "content-type": "application/json"})


def fields(response: Any) -> list[str]:
    return [f["field"] for f in response.json()["error"]["fields"]]


@pytest.mark.parametrize("levels", [256, 1000, 5000])
@pytest.mark.parametrize(("extra", "field"), [
    (lambda deep: {"metadata": deep}, "payload.metadata"),
    (lambda deep: {"tools": [{"name": "t", "parameters": deep}]}, "payload.tools"),
    (lambda deep: {"response_format": {"type": "json_schema", "json_schema": deep}}, "payload.response_format"),
])
async def test_deep_free_form_json_in_a_job_is_422_naming_the_field(
    p: Platform, levels: int, extra: Any, field: str,
) -> None:
    payload = {"model": "mock-0ms", "messages": [{"role": "user", "content": "deep"}], **extra("DEEP")}
    # Built as text: json.dumps itself stops near 1,000 levels.
    text = json.dumps({"kind": "model", "payload": payload}).replace(
        '"DEEP"', '{"a": ' * levels + "{}" + "}" * levels)
    response = await p.client.post("/api/v1/jobs", content=text.encode(),
                                   headers={**p.org_a, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    # Past ~1,000 levels the JSON parser itself gives up: the body is named then.
    assert fields(response) == ([field] if levels < 1000 else ["body"])
    assert "deep" in response.text


@pytest.mark.parametrize("body", [
    {"metadata": nested(300)},
    {"tools": [{"type": "function", "function": {"name": "t", "parameters": nested(300)}}]},
    {"response_format": {"type": "json_schema", "json_schema": nested(300)}},
])
async def test_deep_json_on_the_openai_endpoint_is_422(p: Platform, body: dict[str, Any]) -> None:
    response = await post_raw(p, "/v1/chat/completions", {
        "model": "mock/mock-0ms", "messages": [{"role": "user", "content": "hi"}], **body})
    # `metadata` is an unknown OpenAI parameter: ignored, not an error.
    if "metadata" in body:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422, response.text


async def test_a_lone_surrogate_is_422_on_both_chat_endpoints(p: Platform) -> None:
    messages = [{"role": "user", "content": "bad \ud800 text"}]
    compat = await post_raw(p, "/v1/chat/completions", {"model": "mock/mock-0ms", "messages": messages})
    assert compat.status_code == 422, compat.text
    assert "messages" in fields(compat)[0]
    job = await post_raw(p, "/api/v1/jobs", {"kind": "model", "payload": {"model": "mock-0ms", "messages": messages}})
    assert job.status_code == 422, job.text
    assert fields(job) == ["payload.messages"]
    assert "surrogate" in job.text
    # Nothing was recorded for the org.
    assert (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"] == []


async def test_deep_variables_on_a_bridge_run_are_422(p: Platform) -> None:
    response = await post_raw(p, RUN, {"slug": "any", "user": "hi", "variables": nested(300)})
    assert response.status_code == 422, response.text
    assert fields(response) == ["variables"]


async def test_a_non_utf8_request_id_gets_a_fresh_one(p: Platform) -> None:
    for raw in (b"\xff\xfe\xfd", b"ok\x00id"):
        response = await p.client.get("/healthcheck", headers=[(b"x-request-id", raw)])
        assert response.status_code == 200
        assert response.headers["x-request-id"] != raw.decode("latin-1")
        assert len(response.headers["x-request-id"]) == 32
    kept = await p.client.get("/healthcheck", headers={"x-request-id": "trace-123"})
    assert kept.headers["x-request-id"] == "trace-123"


@pytest.mark.parametrize("params", [
    {"to": "0001-01-01"}, {"to": "9999-12-31T23:00:00-05:00"}, {"from": "0001-01-01T00:00:00+05:00"},
])
async def test_usage_dates_out_of_range_are_422(p: Platform, params: dict[str, str]) -> None:
    response = await p.client.get("/api/v1/usage", params=params, headers=p.org_a)
    assert response.status_code == 422, response.text
    assert fields(response)[0] in params


async def test_wait_on_another_orgs_job_is_404_at_once(unique: str, tmp_path: Path) -> None:
    async with platform("embedded", unique, tmp_path, workers=False) as p:
        job = (await p.submit("queued forever")).json()
        # A liveness bound far below the 60 s the wait asks for: the answer must not wait.
        response = await asyncio.wait_for(
            p.client.get(f"/api/v1/jobs/{job['id']}", params={"wait": 60}, headers=p.org_b), timeout=20)
        assert response.status_code == 404


@pytest.mark.parametrize(("extra", "field"), [
    ({"response_format": {"type": "webhook", "url": "http://127.0.0.1:9/h"}}, "response_format.url"),
    ({"response_format": {"type": "webhook", "url": "http://169.254.169.254/latest"}}, "response_format.url"),
    ({"tools": [{"name": "lookup", "url": "http://10.0.0.1/x"}]}, "tools[0].url"),
    ({"tools": [{"name": "ok", "url": "https://93.184.215.14/x"},
                {"name": "meta", "url": "http://[::ffff:169.254.169.254]/"}]}, "tools[1].url"),
])
async def test_a_bridge_with_an_internal_url_is_refused_on_save(
    p: Platform, extra: dict[str, Any], field: str,
) -> None:
    body = {"name": "Internal", "model": "mock-0ms", **extra}
    created = await p.client.post(BRIDGES, json=body, headers=p.org_a)
    assert created.status_code == 422, created.text
    assert fields(created) == [field]
    # The same URL through an edit of a valid bridge.
    fine = await p.client.post(BRIDGES, json={"name": "Fine", "model": "mock-0ms"}, headers=p.org_a)
    assert fine.status_code == 201
    edited = await p.client.patch(f"{BRIDGES}/{fine.json()['id']}", json=extra, headers=p.org_a)
    assert edited.status_code == 422, edited.text
    assert fields(edited) == [field]


async def test_a_run_with_an_internal_webhook_url_is_refused(p: Platform) -> None:
    created = await p.client.post(BRIDGES, json={"name": "Run", "model": "mock-0ms"}, headers=p.org_a)
    run = await p.client.post(RUN, headers=p.org_a, json={
        "bridge_id": created.json()["id"], "user": "hi",
        "response_format": {"type": "webhook", "url": "http://0177.0.0.1:8080/h"}})
    assert run.status_code == 422, run.text
    assert fields(run) == ["payload.webhook.url"]


@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "model", "payload": {"messages": [{"role": "user", "content": "x"}]}, "priority": 1}, "priority"),
    ({"kind": "model", "payload": {"messages": [{"role": "user", "content": "x"}], "temprature": 0.2}},
     "payload.temprature"),
    ({"kind": "model", "payload": {"messages": [{"role": "user", "content": "x", "contnet": "y"}]}},
     "payload.messages.0.contnet"),
    ({"kind": "model", "payload": {"provider": "nope", "messages": [{"role": "user", "content": "x"}]}},
     "payload.provider"),
    ({"kind": "model", "payload": {"provider": "openai", "model": "gpt-made-up",
                                   "messages": [{"role": "user", "content": "x"}]}}, "payload.model"),
    ({"kind": "model", "payload": {"messages": [{"role": "user", "content": "x"}],
                                   "fallbacks": [{"provider": "mock", "model": "mock-embed"}]}},
     "payload.fallbacks.0.model"),
])
async def test_unknown_fields_providers_and_models_are_422_at_submit(
    p: Platform, body: dict[str, Any], field: str,
) -> None:
    response = await p.client.post("/api/v1/jobs", json=body, headers=p.org_a)
    assert response.status_code == 422, response.text
    assert field in fields(response)
    assert (await p.client.get("/api/v1/jobs", headers=p.org_a)).json()["data"] == []


async def test_the_openai_endpoint_ignores_unknown_parameters_but_not_unknown_models(p: Platform) -> None:
    fine = await p.client.post("/v1/chat/completions", headers=p.org_a, json={
        "model": "mock/mock-0ms", "messages": [{"role": "user", "content": "hi"}],
        "logit_bias": {"1": 2}, "parallel_tool_calls": True})
    assert fine.status_code == 200, fine.text
    unknown = await p.client.post("/v1/chat/completions", headers=p.org_a, json={
        "model": "openai/gpt-made-up", "messages": [{"role": "user", "content": "hi"}]})
    assert unknown.status_code in (404, 422), unknown.text


async def test_only_deterministic_or_opted_in_requests_are_served_from_the_cache(p: Platform) -> None:
    async def cache_of(**payload: Any) -> str:
        done = (await p.submit("same question", wait=10, **payload)).json()
        assert done["status"] == "succeeded", done
        return str(done["meta"]["cache"])

    # Sampling at the provider's default temperature: asked twice, answered twice.
    assert [await cache_of(), await cache_of()] == ["bypass", "bypass"]
    assert [await cache_of(temperature=0), await cache_of(temperature=0)] == ["miss", "hit"]
    assert [await cache_of(seed=7), await cache_of(seed=7)] == ["miss", "hit"]
    assert [await cache_of(temperature=0.9, cache=True), await cache_of(temperature=0.9, cache=True)] == ["miss", "hit"]
    assert await cache_of(temperature=0, cache=False) == "bypass"


async def test_an_unknown_query_parameter_is_422_naming_it(p: Platform) -> None:
    response = await p.client.get("/api/v1/jobs", params={"stauts": "failed"}, headers=p.org_a)
    assert response.status_code == 422
    assert fields(response) == ["stauts"]
    assert (await p.client.get("/api/v1/jobs", params={"status": "failed"}, headers=p.org_a)).status_code == 200
