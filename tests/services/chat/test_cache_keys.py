"""What counts as the same request, and which requests never touch the cache."""

from __future__ import annotations

from typing import Any

from services.chat.cache_keys import bypass_reason, cache_key
from services.chat.schemas import ChatJobPayload


def _p(**kw: Any) -> ChatJobPayload:
    base: dict[str, Any] = {"provider": "openai", "model": "gpt-4o-mini",
                            "messages": [{"role": "user", "content": "hi"}]}
    return ChatJobPayload.model_validate({**base, **kw})


def test_key_ignores_what_does_not_change_the_answer() -> None:
    key = cache_key("org", _p())
    assert cache_key("org", _p(user="u1", metadata={"trace": "x"}, stream=True,
                               fallbacks=[{"provider": "groq", "model": "m"}])) == key
    assert cache_key("org", _p(temperature=None)) == key


def test_key_changes_with_what_does() -> None:
    key = cache_key("org", _p())
    for other in (cache_key("org2", _p()), cache_key("org", _p(model="gpt-4o")),
                  cache_key("org", _p(provider="groq")), cache_key("org", _p(temperature=0)),
                  cache_key("org", _p(max_tokens=5)), cache_key("org", _p(system="be brief")),
                  cache_key("org", _p(messages=[{"role": "user", "content": "hi!"}]))):
        assert other != key


def test_bypass_rules() -> None:
    # Unset temperature is the provider's default sampling: not served from the cache.
    assert bypass_reason(_p()) == "sampling_without_seed"
    assert bypass_reason(_p(cache=True)) is None
    assert bypass_reason(_p(seed=3)) is None
    assert bypass_reason(_p(temperature=0)) is None
    assert bypass_reason(_p(temperature=0.7, seed=7)) is None
    assert bypass_reason(_p(cache=False)) == "cache_false"
    assert bypass_reason(_p(metadata={"deterministic": False})) == "non_deterministic"
    assert bypass_reason(_p(temperature=0.7)) == "sampling_without_seed"
    assert bypass_reason(_p(temperature=0.7, metadata={"deterministic": True})) is None
    tool = {"name": "weather", "url": "https://tools.example.com/weather"}
    assert bypass_reason(_p(tools=[tool], temperature=0)) == "http_tools"
    assert bypass_reason(_p(tools=[{"name": "client_side"}], temperature=0)) is None
