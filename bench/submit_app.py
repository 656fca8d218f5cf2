"""The API app with one extra route: a bare FastAPI endpoint parsing the same body.

Both run in one server with the same settings, so their ratio measures what the platform
adds (auth, record in Redis, publish with broker confirm) over parsing the request.
"""

from __future__ import annotations

from typing import Any

from api.routes.jobs import JobSubmit
from api.scopes import ROUTE_SCOPES
from index import build_app

app = build_app(with_workers=False)
# The bare route needs no key: scope checks would refuse an unmapped route with 403.
ROUTE_SCOPES[("POST", "/bare")] = None


@app.post("/bare", status_code=202)
async def bare(body: JobSubmit) -> dict[str, Any]:
    return {"kind": body.kind, "status": "queued"}
