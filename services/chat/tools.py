"""HTTP tools: the platform calls the integrator's endpoint for each tool call the model makes.

Tool calls of one model turn run in parallel, each bounded by `tool_timeout_s`. Whatever
goes wrong (a name the model invented, arguments that are not JSON, a refused URL, a
timeout, a 5xx) becomes a tool result the model reads, never an exception: the model can
then correct itself or answer without the tool. Tool URLs pass the private-address guard
(services/net/guard.py) and connect only to the addresses it checked; redirects are not
followed. Tool headers may hold the integrator's secrets: they are sent, never echoed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from config import ChatSettings
from services.errors import PlatformError
from services.net.client import GuardedClient, HttpError
from services.net.guard import NetPolicy, check_url
from services.providers.types import HttpTool, Message, ToolCall

# GET and DELETE carry the arguments as query parameters; the others as a JSON body.
_QUERY_METHODS = ("GET", "DELETE")


def _error(message: str, **extra: Any) -> str:
    return orjson.dumps({"error": message, **extra}).decode()


class ToolRunner:
    def __init__(self, settings: ChatSettings, *, production: bool) -> None:
        self.settings = settings
        self.policy = NetPolicy.build(
            require_https=production, allow_hosts=settings.tool_allow_hosts,
            allow_cidrs=settings.tool_allow_cidrs, connect_timeout_s=settings.tool_timeout_s,
            read_timeout_s=settings.tool_timeout_s,
        )
        self.client = GuardedClient(self.policy, max_connections=200)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def run(self, calls: list[ToolCall], tools: dict[str, HttpTool]) -> list[Message]:
        """One tool message per call, in the calls' order."""
        results = await asyncio.gather(*(self._run_one(call, tools) for call in calls))
        return [
            Message(role="tool", tool_call_id=call.id, name=call.name, content=content)
            for call, content in zip(calls, results, strict=True)
        ]

    async def _run_one(self, call: ToolCall, tools: dict[str, HttpTool]) -> str:
        tool = tools.get(call.name)
        if tool is None or not tool.url:
            return _error(f"unknown tool {call.name!r}", available=sorted(
                name for name, t in tools.items() if t.url))
        try:
            arguments = orjson.loads(call.arguments or "{}")
        except orjson.JSONDecodeError:
            return _error("the arguments are not valid JSON")
        try:
            async with asyncio.timeout(self.settings.tool_timeout_s):
                return await self._call(tool, tool.url, arguments)
        except TimeoutError:
            return _error(f"the tool did not answer within {self.settings.tool_timeout_s:g}s")
        except PlatformError as exc:
            return _error(f"the tool URL was refused: {exc.message}")
        except HttpError as exc:
            return _error(f"the tool could not be reached ({exc.kind})")

    async def _call(self, tool: HttpTool, url: str, arguments: Any) -> str:
        target = await check_url(url, self.policy)
        headers, body, params = tool.headers, None, None
        if tool.method in _QUERY_METHODS:
            if isinstance(arguments, dict):
                params = {
                    k: v if isinstance(v, str) else orjson.dumps(v).decode()
                    for k, v in arguments.items()
                }
        else:
            body = orjson.dumps(arguments)
            headers = {"content-type": "application/json", **tool.headers}
        response = await self.client.request(
            tool.method, target, headers=headers, body=body, params=params,
            read_limit=self.settings.tool_max_response_bytes)
        text = response.body.decode("utf-8", errors="replace")
        if response.ok:
            return text
        return _error(f"the tool answered HTTP {response.status}", body=text)

    @staticmethod
    def runnable(calls: list[ToolCall], tools: dict[str, HttpTool]) -> bool:
        """False when a call names a declared tool without a URL: the caller runs those."""
        return not any((t := tools.get(c.name)) is not None and not t.url for c in calls)
