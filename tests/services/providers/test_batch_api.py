"""The providers' native batch APIs through the official SDKs against the simulator:
OpenAI's files + batches, Anthropic's Message Batches."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from services.providers.batch_api import BATCH_DISCOUNT, batch_api
from services.providers.pricing import cost_usd
from services.providers.registry import ProviderRegistry
from services.providers.simulator.server import RunningSimulator
from services.providers.types import ChatRequest, Message
from tests.services.providers.conftest import MODELS

BATCHED = ["openai", "anthropic"]


def _items(n: int) -> list[tuple[str, ChatRequest]]:
    return [(f"c{i}", ChatRequest(messages=[Message(role="user", content=f"line {i}")])) for i in range(n)]


async def _ended(registry: ProviderRegistry, name: str, batch_id: str) -> None:
    api = batch_api(registry[name])
    assert api is not None
    async with asyncio.timeout(10):
        while not await api.batch_ended(batch_id, api_key="k"):
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("name", BATCHED)
async def test_a_batch_answers_every_line_by_custom_id_at_half_price(
    registry: ProviderRegistry, sim: RunningSimulator, name: str,
) -> None:
    api = batch_api(registry[name])
    assert api is not None
    batch_id = await api.batch_submit(_items(3), model=MODELS[name], api_key="k")
    await _ended(registry, name, batch_id)
    lines = {line.custom_id: line for line in await api.batch_results(batch_id, model=MODELS[name], api_key="k")}
    assert set(lines) == {"c0", "c1", "c2"}
    result = lines["c1"].result
    assert result is not None and result.content == "sim: line 1"
    assert result.provider == name and result.usage.output_tokens == 3
    assert result.cost_usd == pytest.approx(cost_usd(name, MODELS[name], result.usage) * BATCH_DISCOUNT)
    async with httpx.AsyncClient(base_url=sim.url) as c:
        stats = (await c.get("/_sim/stats")).json()
    # The batch endpoints did the work: no chat call per line.
    assert not any(route.endswith(("/chat/completions", "/v1/messages")) for route in stats["by_route"])


@pytest.mark.parametrize("name", BATCHED)
async def test_cancel_reaches_the_provider_and_every_line_comes_back_cancelled(
    registry: ProviderRegistry, sim: RunningSimulator, name: str,
) -> None:
    async with httpx.AsyncClient(base_url=sim.url) as c:
        await c.post("/_sim/batches", json={"complete_after_s": 60})
    api = batch_api(registry[name])
    assert api is not None
    batch_id = await api.batch_submit(_items(2), model=MODELS[name], api_key="k")
    assert not await api.batch_ended(batch_id, api_key="k")
    await api.batch_cancel(batch_id, api_key="k")
    await _ended(registry, name, batch_id)
    lines = await api.batch_results(batch_id, model=MODELS[name], api_key="k")
    assert sorted(line.custom_id for line in lines) == ["c0", "c1"]
    assert all(line.result is None and line.error_code for line in lines)


def test_only_providers_with_a_batch_api_offer_one(registry: ProviderRegistry) -> None:
    assert {name for name in registry if batch_api(registry[name]) is not None} == set(BATCHED)
