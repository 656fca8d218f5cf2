"""A worker's credential lookup: the org's stored key first, the environment second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config import AppSettings, SecuritySettings, Settings
from services.common.crypto import generate_key
from services.context import Context, build_context
from services.credentials.resolve import OrgCredentials
from services.errors import Invalid


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    settings = Settings(
        app=AppSettings(environment="test", data_dir=str(tmp_path)),
        security=SecuritySettings(encryption_keys=generate_key()),
    )
    context = await build_context(settings, role="test")
    yield context
    await context.close()


async def test_org_credential_wins_over_the_environment(
    ctx: Context, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-environment")
    assert ctx.credentials is not None
    assert await OrgCredentials(ctx.credentials)("org_a", "openai") == "sk-from-environment"
    await ctx.credentials.put("org_a", "openai", "sk-org-a-own-key-0001")
    assert await OrgCredentials(ctx.credentials)("org_a", "openai") == "sk-org-a-own-key-0001"
    assert await OrgCredentials(ctx.credentials)("org_b", "openai") == "sk-from-environment"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert await OrgCredentials(ctx.credentials)("org_b", "openai") is None


async def test_deleting_a_credential_takes_effect_at_once(ctx: Context) -> None:
    assert ctx.credentials is not None
    saved = await ctx.credentials.put("org_a", "anthropic", "sk-ant-0123456789")
    assert await OrgCredentials(ctx.credentials)("org_a", "anthropic") == "sk-ant-0123456789"
    await ctx.credentials.delete("org_a", saved.id)
    assert await OrgCredentials(ctx.credentials)("org_a", "anthropic") is None


async def test_unknown_services_are_refused(ctx: Context) -> None:
    assert ctx.credentials is not None
    with pytest.raises(Invalid) as caught:
        await ctx.credentials.put("org_a", "openia", "sk-typo-0123456789")
    assert caught.value.field == "service"
