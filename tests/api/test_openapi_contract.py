"""The whole OpenAPI document, checked against the running app by property-based tests
(schemathesis): every operation, every check (no server errors, documented status codes,
content types and headers, response schemas, invalid input refused, valid input accepted).

In process (ASGI), on the embedded platform with its workers, authenticated with a real key.
Bounded: EXAMPLES per operation, a fixed seed (derandomized), no shrinking. Operations other
branches add are picked up from the document: nothing here lists routes.
"""

from __future__ import annotations

import secrets
import tempfile

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from config import load_settings

EXAMPLES = 25


def _app():  # type: ignore[no-untyped-def]
    from index import build_app

    cfg = load_settings()
    cfg.app.data_dir = tempfile.mkdtemp(prefix="aim-openapi-")
    cfg.rabbit.url = cfg.redis.url = cfg.mongo.url = cfg.timescale.url = None
    cfg.app.dev_api_key = f"aim_devoas_{secrets.token_urlsafe(24)}"
    # A free port nobody listens on: the development banner waits for it and never prints.
    cfg.app.port = 9
    return build_app(cfg, with_workers=True), cfg.app.dev_api_key


APP, KEY = _app()
# A schema-valid request may still be refused with 422 for what no JSON Schema states: an
# unknown job kind, provider or model (the catalog), an internal webhook URL (the address
# guard), a bridge's one-of rules, a malformed cursor. Those 422s name the field, as every
# 422 does. A body over APP_MAX_BODY_BYTES (1 MiB) is a 413 whatever its schema says (no
# JSON Schema bounds a document's size). A 400 or 415 still fails the check (and any 5xx
# fails not_a_server_error).
CONFIG = SchemathesisConfig.from_dict({"checks": {
    "positive_data_acceptance": {
        "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "413", "422", "429", "5xx"]},
    # Invalid data that is also over 1 MiB is refused for its size first.
    "negative_data_rejection": {
        "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429",
                              "5xx"]},
}})
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_every_operation_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"})
