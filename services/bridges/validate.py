"""Checks a bridge spec on save, so a broken bridge is refused (422) instead of failing runs."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.bridges import catalog
from services.bridges.model import BridgeSpec, Delivery
from services.bridges.render import placeholders
from services.bridges.schema_check import tool_schema_errors
from services.errors import Invalid
from services.net.guard import NetPolicy, UnsafeTarget, check_url
from services.webhooks.models import WebhookTarget


def validate_spec(spec: BridgeSpec, *, open_providers: Collection[str] = ()) -> None:
    """Raise Invalid (field named) for the first problem found. `open_providers` are
    self-hosted OpenAI-compatible services, which accept any model name."""
    problem = catalog.check_model(spec.provider, spec.model, open_providers)
    if problem:
        field = "provider" if problem.startswith("unknown provider") else "model"
        raise Invalid(problem, field=field)
    for i, ref in enumerate(spec.fallbacks):
        problem = catalog.check_model(ref.provider, ref.model, open_providers)
        if problem:
            raise Invalid(f"fallbacks[{i}]: {problem}", field=f"fallbacks[{i}]")
    _check_variables(spec)
    _check_tools(spec)
    if spec.response_format.type == "webhook":
        webhook_target(spec.response_format)


def _check_variables(spec: BridgeSpec) -> None:
    names = [v.name for v in spec.variables]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise Invalid(f"variables declared twice: {', '.join(dupes)}", field="variables")
    undeclared = [p for p in placeholders(spec.system_prompt) if p not in names]
    if undeclared:
        raise Invalid(
            f"system_prompt uses undeclared variables: {', '.join(undeclared)}",
            field="system_prompt", undeclared=undeclared,
        )


def _check_tools(spec: BridgeSpec) -> None:
    seen: set[str] = set()
    for i, tool in enumerate(spec.tools):
        if tool.name in seen:
            raise Invalid(f"tool name {tool.name!r} is used twice", field=f"tools[{i}].name")
        seen.add(tool.name)
        errors = tool_schema_errors(tool.parameters)
        if errors:
            raise Invalid(
                f"tool {tool.name!r} has an invalid parameters schema: {'; '.join(errors)}",
                field=f"tools[{i}].parameters", errors=errors,
            )
        if tool.url and not tool.url.startswith(("https://", "http://")):
            raise Invalid(f"tool {tool.name!r} url must be http(s)", field=f"tools[{i}].url")


@dataclass(frozen=True, slots=True)
class UrlPolicies:
    """The address guards a bridge's URLs meet when used: webhooks' and HTTP tools'."""

    webhook: NetPolicy
    tools: NetPolicy


async def check_addresses(spec: BridgeSpec, policies: UrlPolicies) -> None:
    """Refuse (Invalid, field named) a webhook or tool URL the guard would refuse when sending:
    loopback, private, metadata addresses and the like. A name that does not resolve yet is
    left to the send, which checks again."""
    targets = [(spec.response_format.url, policies.webhook, "response_format.url")]
    targets += [(tool.url, policies.tools, f"tools[{i}].url") for i, tool in enumerate(spec.tools)]
    for url, policy, field in targets:
        if not url:
            continue
        try:
            await check_url(url, policy)
        except UnsafeTarget as exc:
            raise Invalid(f"{field} is not allowed: {exc.message}", field=field) from exc
        except Exception:
            continue


def webhook_target(delivery: Delivery) -> dict[str, Any]:
    """`webhook` for the job request; Invalid when the URL or headers are unusable."""
    try:
        target = WebhookTarget(url=delivery.url or "", headers=delivery.headers)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        raise Invalid(f"response_format webhook is invalid: {reason}",
                      field="response_format") from exc
    return target.model_dump()
