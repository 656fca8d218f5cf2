"""Coalesces concurrent Lua script calls: the calls of one event-loop tick go to Redis as
one command per script.

Under load, hundreds of job starts and completions call the same scripts in the same tick.
Each call on its own pays redis-py's per-command cost: a pooled connection of its own when
calls overlap, a retry wrapper, a write timeout task, a read timeout per reply, and ~3 us
per argument to pack. A worker starting 1,000 jobs at once spent ~500 us of CPU per
concurrent HGETALL, ~25 us per call in one pipeline. So the calls of one tick to the same
script run as ONE EVALSHA of that script's batched form (`batched`): every call's
arguments travel as one JSON argument, Redis runs each call in turn and answers a list.
Different scripts share one pipeline.

A call waits at most one loop tick for company, so an idle process sees no added latency.
Each call still runs atomically and sees the writes of the calls before it; one that
raises fails alone (its error is its answer), as it would have on its own. Arguments are
str, int, float or UTF-8 bytes (what the scripts here take), sent as strings as redis-py
would send them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError

# Calls of one script sent as one command even if more are waiting: bounds the reply size
# and the time one batched call holds Redis (256 job transitions: ~5 ms here, the same
# ~20 us each as 256 separate calls in one pipeline).
MAX_BATCH = 256
# Sends of one batcher awaiting Redis at once (see `_schedule`).
MAX_SENDING = 2
Call = tuple[AsyncScript, Sequence[Any], Sequence[Any], asyncio.Future[Any]]

# KEYS: every call's keys in turn; ARGV[1]: JSON [[key count, arg, ...], ...], one per call.
# The script's own body becomes `one`, its KEYS and ARGV that call's.
_BATCHED = """
local function one(KEYS, ARGV)
%s
end
local calls = cjson.decode(ARGV[1])
local out = {}
local k = 0
for i = 1, #calls do
  local call = calls[i]
  local keys, argv = {}, {}
  for j = 1, call[1] do keys[j] = KEYS[k + j] end
  k = k + call[1]
  for j = 2, #call do argv[j - 1] = call[j] end
  local ok, res = pcall(one, keys, argv)
  if not ok then
    out[i] = type(res) == 'table' and res or {err = tostring(res)}
  elseif res == nil then
    out[i] = false
  else
    out[i] = res
  end
end
return out
"""


def batched(script: str) -> str:
    """The Lua running many calls of `script` in one EVALSHA (one list of answers)."""
    return _BATCHED % script


def _word(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a batched script argument must be str, bytes, int or float, not {type(value).__name__}")
    return repr(value)


class ScriptBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: list[Call] = []
        self._scheduled = False
        self._sending: set[asyncio.Future[None]] = set()
        # Each script's batched form, by the script's sha (registering only hashes the text).
        self._batched: dict[str, AsyncScript] = {}

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, keys, args, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        # With MAX_SENDING batches out, calls wait for one to come back and then go together
        # (group commit): under load batches grow with Redis's round trip; idle, a call
        # leaves at the next tick.
        if not self._scheduled and len(self._sending) < MAX_SENDING:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        groups: dict[str, list[Call]] = {}
        for call in self._pending:
            groups.setdefault(call[0].sha, []).append(call)
        self._pending = []
        commands = [calls[i:i + MAX_BATCH] for calls in groups.values()
                    for i in range(0, len(calls), MAX_BATCH)]
        task = asyncio.ensure_future(self._send(commands))
        self._sending.add(task)
        task.add_done_callback(self._sent)

    def _sent(self, task: asyncio.Future[None]) -> None:
        self._sending.discard(task)
        if self._pending:
            self._schedule()

    async def _send(self, commands: list[list[Call]]) -> None:
        try:
            prepared = [self._command(calls) for calls in commands]
            answers = await self._run(prepared)
        except BaseException as exc:
            for calls in commands:
                for call in calls:
                    _settle(call[3], exc=exc)
            if not isinstance(exc, Exception):
                raise
            return
        for calls, answer in zip(commands, answers, strict=True):
            if isinstance(answer, Exception):
                for call in calls:
                    _settle(call[3], exc=answer)
                continue
            for call, result in zip(calls, answer, strict=True):
                if isinstance(result, ResponseError):
                    _settle(call[3], exc=result)
                else:
                    _settle(call[3], result=result)

    def _command(self, calls: list[Call]) -> tuple[AsyncScript, list[Any], bytes]:
        """The calls of one script as one call of its batched form: (script, keys, arg)."""
        script = calls[0][0]
        many = self._batched.get(script.sha)
        if many is None:
            many = self._batched[script.sha] = self._redis.register_script(batched(_text(script)))
        keys: list[Any] = []
        packed: list[list[Any]] = []
        for _, call_keys, call_args, _ in calls:
            keys += call_keys
            packed.append([len(call_keys), *map(_word, call_args)])
        return many, keys, orjson.dumps(packed)

    async def _run(self, prepared: list[tuple[AsyncScript, list[Any], bytes]]) -> list[Any]:
        if len(prepared) == 1:
            script, keys, arg = prepared[0]
            return [await script(keys=keys, args=[arg])]  # loads the script itself when missing
        answers = await self._evalsha(prepared)
        missing = [i for i, r in enumerate(answers) if isinstance(r, NoScriptError)]
        if missing:
            # First use, or Redis restarted (SCRIPT FLUSH): load the scripts and send again
            # only the commands that did not run (the others must not run twice).
            for script in {prepared[i][0].sha: prepared[i][0] for i in missing}.values():
                await self._redis.script_load(_text(script))
            for i, answer in zip(missing, await self._evalsha([prepared[i] for i in missing]), strict=True):
                answers[i] = answer
        return answers

    async def _evalsha(self, prepared: list[tuple[AsyncScript, list[Any], bytes]]) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for script, keys, arg in prepared:
                pipe.evalsha(script.sha, len(keys), *keys, arg)
            return list(await pipe.execute(raise_on_error=False))


def _text(script: AsyncScript) -> str:
    text = script.script
    return text.decode() if isinstance(text, bytes) else text


def _settle(future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
