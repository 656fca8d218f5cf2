"""A fake AI provider that speaks the real wire formats, for tests and benchmarks.

One HTTP server (a bare ASGI app under uvicorn + httptools, orjson bodies):

| provider   | SDK base URL                 | routes                                     |
|------------|------------------------------|--------------------------------------------|
| openai     | {url}/openai/v1              | POST /chat/completions, POST /embeddings   |
| groq       | {url}/groq                   | POST /openai/v1/chat/completions, ...      |
| openrouter | {url}/openrouter/api/v1      | as openai                                  |
| gemini     | {url}/gemini/v1beta/openai   | as openai (Gemini's OpenAI-compatible API) |
| vllm       | {url}/vllm/v1                | as openai                                  |
| anthropic  | {url}/anthropic              | POST /v1/messages                          |
| mistral    | {url}/mistral                | POST /v1/chat/completions, /v1/embeddings  |

Streaming (`stream: true`) is SSE in each provider's format: OpenAI chunks ending with
`data: [DONE]` (plus a usage chunk with `stream_options.include_usage`; Groq also puts
`x_groq.usage` on the last chunk), Mistral's usage on the finishing chunk, Anthropic's
message_start / content_block_start / ping / content_block_delta (text_delta,
input_json_delta) / content_block_stop / message_delta (stop_reason, usage) / message_stop.

## Answers (deterministic; see answers.py)

- text: `sim: <last user text>` (+ ` [N image(s)]`);
- tool call to the first tool (or the one named in the text / forced) when tools are
  offered, the last message is the user's, and the text contains "use tool" or the tool
  choice forces a call (`required` / `any` / a named tool); arguments are built from the
  tool's JSON schema (strings "sim", integers 1, numbers 1.5, booleans true, enums their
  first value, required properties or else all);
- after tool results: `sim: tool result: <result content>`;
- JSON mode (json_object / json_schema; Anthropic `output_config.format` or a forced tool):
  valid JSON built from the schema, `{"answer": "sim: <text>"}` without properties;
- usage in whitespace words: input = words of every message + 1 per message (+ system for
  Anthropic), output = words of the reply.

## Dials

Set per server with `POST /_sim/config` (replaces the whole config; JSON body of dials,
plus optional `"providers": {"anthropic": {...}}` and `"models": {"gpt-4o": {...}}`
sections that apply to that route prefix / model only), per request with `x-sim-<name>`
headers (`_` written as `-`), or in a model name starting with `sim`. Headers beat the
model name, which beats the config.

| dial            | header                  | value                                       |
|-----------------|-------------------------|---------------------------------------------|
| latency         | x-sim-latency           | ms (`20`), `uniform:MIN:MAX`, `lognormal:P50:P99` |
| latency_ms      | x-sim-latency-ms        | fixed ms (alias of latency)                 |
| chunk_delay_ms  | x-sim-chunk-delay-ms    | pause between stream chunks                 |
| error_rate      | x-sim-error-rate        | `503=0.2,500=0.1` / {"503": 0.2}            |
| status          | x-sim-status            | always answer this error status             |
| error_code      | x-sim-error-code        | code in the error body: context_length_exceeded, |
|                 |                         | content_policy_violation, model_not_found         |
| retry_after     | x-sim-retry-after       | seconds in `retry-after` (429s send 1 by default) |
| retry_after_ms  | x-sim-retry-after-ms    | also send `retry-after-ms`                  |
| fail_first      | x-sim-fail-first        | the first N requests with the same key fail |
| fail_status     | x-sim-fail-status       | their status (default 503)                  |
| key             | x-sim-key               | the fail-first counter's key (default "default") |
| hang            | x-sim-hang              | `1`: never answer; held until the client disconnects |
| malformed       | x-sim-malformed         | `json`: invalid JSON body or SSE event; `shape`: 200 `{}`; |
|                 |                         | `truncate`: the stream stops halfway, without its final events |

Model names: `sim-fail-503`, `sim-20ms`, `sim-hang`, `sim-malformed`, `sim-truncate`,
`sim-failfirst-2-<unique>` (key = the model name); tokens combine: `sim-50ms-fail-429`.

Errors use each provider's body shape (OpenAI/Groq/vLLM `{"error": {message, type, code}}`,
OpenRouter `{"error": {code, message}}`, Gemini `[{"error": {code, message, status}}]`,
Anthropic `{"type": "error", "error": {type, message}}`, Mistral flat), so every SDK raises
its own exception classes.

## Control

`GET /_sim/stats` (requests, by_route, by_model, by_provider, by_status, fail-first
counters), `POST /_sim/reset` (stats, counters and config), `GET|POST /_sim/config`,
`GET /_sim/last` (the last request body per provider, to assert what an adapter sent).

Start it with `server.start_simulator()` (in the event loop) or
`server.start_simulator_process()`, or run `python -m services.providers.simulator --port 9100`.
"""
