"""What the OpenAPI document and the method answers say: error statuses on every operation,
real response schemas, and every method of a path in OPTIONS and 405 answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.platform import Platform, platform


@pytest.fixture
async def p(unique: str, tmp_path: Path) -> Any:
    async with platform("embedded", unique, tmp_path, workers=False) as running:
        yield running


async def test_every_operation_documents_its_errors_and_a_real_schema(p: Platform) -> None:
    doc = (await p.client.get("/openapi.json")).json()
    assert "Error" in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if path.startswith(("/api/", "/v1/")):
                assert {"401", "503"} <= codes, (method, path)
            if "requestBody" in op:
                assert {"413", "422"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            for code, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                assert schema != {"type": "string"}, (method, path, code)
                if int(code) >= 400 and schema and "$ref" in schema:
                    assert schema["$ref"] in ("#/components/schemas/Error", "#/components/schemas/Readiness")
    jobs = doc["paths"]["/api/v1/jobs"]
    assert "409" in jobs["post"]["responses"] and "200" in jobs["post"]["responses"]
    assert jobs["post"]["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobView"}


async def test_options_and_405_list_every_method_of_the_path(p: Platform) -> None:
    options = await p.client.options("/api/v1/jobs", headers=p.org_a)
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "OPTIONS"}
    put = await p.client.put("/api/v1/jobs", headers=p.org_a)
    assert put.status_code == 405
    assert {"GET", "POST"} <= set(put.headers["allow"].split(", "))
    endpoint = await p.client.options("/api/v1/webhooks/endpoints/ep_x", headers=p.org_a)
    assert set(endpoint.headers["allow"].split(", ")) == {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH"}
    assert (await p.client.options("/nowhere")).status_code == 404
