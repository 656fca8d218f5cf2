"""Which scope each route needs, in one table, and the dependency that enforces it.

Every route the app serves must be in ROUTE_SCOPES (None: public, no key needed). A route
missing from the table is refused with 403 for every key, and
tests/api/governance/test_scopes.py fails naming it, so a new route cannot ship unguarded.
The check authenticates the caller (401 without a valid key) and leaves the Caller on
`request.state.principal` for the route's own dependencies.
"""

from __future__ import annotations

from fastapi import Request
from starlette.requests import HTTPConnection

from services.auth.authenticator import Authenticator
from services.auth.caller import Caller
from services.auth.errors import Forbidden
from services.auth.keys import KEY_SCHEME
from services.auth.scopes import Scope, allows

R, W = Scope.JOBS_READ, Scope.JOBS_WRITE
CR, CW, ADMIN = Scope.CONFIG_READ, Scope.CONFIG_WRITE, Scope.ADMIN
RAG_W = Scope.RAG_WRITE

ROUTE_SCOPES: dict[tuple[str, str], Scope | None] = {
    ("GET", "/healthcheck"): None,
    ("GET", "/ready"): None,
    ("GET", "/metrics"): None,
    # jobs
    ("POST", "/api/v1/jobs"): W,
    ("GET", "/api/v1/jobs"): R,
    ("GET", "/api/v1/jobs/{job_id}"): R,
    ("POST", "/api/v1/jobs/{job_id}/cancel"): W,
    ("GET", "/api/v1/jobs/{job_id}/events"): R,
    ("GET", "/api/v1/usage"): R,
    ("POST", "/api/v2/model/chat/completion"): W,
    ("POST", "/v1/chat/completions"): W,
    ("GET", "/v1/models"): CR,
    # webhooks
    ("GET", "/api/v1/webhooks/endpoints"): CR,
    ("POST", "/api/v1/webhooks/endpoints"): CW,
    ("GET", "/api/v1/webhooks/endpoints/{endpoint_id}"): CR,
    ("PATCH", "/api/v1/webhooks/endpoints/{endpoint_id}"): CW,
    ("DELETE", "/api/v1/webhooks/endpoints/{endpoint_id}"): CW,
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"): CW,
    ("POST", "/api/v1/webhooks/endpoints/{endpoint_id}/test"): CW,
    ("GET", "/api/v1/webhooks/secret"): CW,  # reveals a signing secret: not for read-only keys
    ("POST", "/api/v1/webhooks/secret/rotate"): CW,
    ("GET", "/api/v1/webhooks/deliveries"): CR,
    ("GET", "/api/v1/webhooks/deliveries/{delivery_id}"): CR,
    ("POST", "/api/v1/webhooks/deliveries/{delivery_id}/redeliver"): CW,
    # bridges
    ("POST", "/api/v1/config/bridges"): CW,
    ("GET", "/api/v1/config/bridges"): CR,
    ("GET", "/api/v1/config/bridges/{bridge_id}"): CR,
    ("PATCH", "/api/v1/config/bridges/{bridge_id}"): CW,
    ("DELETE", "/api/v1/config/bridges/{bridge_id}"): CW,
    ("GET", "/api/v1/config/bridges/{bridge_id}/versions"): CR,
    ("GET", "/api/v1/config/bridges/{bridge_id}/versions/{version}"): CR,
    ("POST", "/api/v1/config/bridges/{bridge_id}/publish"): CW,
    ("POST", "/api/v1/config/bridges/{bridge_id}/rollback"): CW,
    # provider credentials and catalog
    ("POST", "/api/v1/config/apikeys"): CW,
    ("GET", "/api/v1/config/apikeys"): CR,
    ("GET", "/api/v1/config/apikeys/{credential_id}"): CR,
    ("DELETE", "/api/v1/config/apikeys/{credential_id}"): CW,
    ("GET", "/api/v1/config/services"): CR,
    ("GET", "/api/v1/config/services/{service}/models"): CR,
    # governance: keys, limits and audit are the org's administration
    ("POST", "/api/v1/config/platform-keys"): ADMIN,
    ("GET", "/api/v1/config/platform-keys"): ADMIN,
    ("DELETE", "/api/v1/config/platform-keys/{key_id}"): ADMIN,
    ("GET", "/api/v1/limits/{subject}"): CR,
    ("PUT", "/api/v1/limits/{subject}"): ADMIN,
    ("DELETE", "/api/v1/limits/{subject}"): ADMIN,
    ("GET", "/api/v1/limits/{subject}/{subject_id}"): CR,
    ("PUT", "/api/v1/limits/{subject}/{subject_id}"): ADMIN,
    ("DELETE", "/api/v1/limits/{subject}/{subject_id}"): ADMIN,
    ("GET", "/api/v1/audit"): ADMIN,
    # batches (and the OpenAI-compatible files and batches the SDK uses for them)
    ("POST", "/api/v1/batches"): W,
    ("GET", "/api/v1/batches/{batch_id}"): R,
    ("POST", "/api/v1/batches/{batch_id}/cancel"): W,
    ("GET", "/api/v1/batches/{batch_id}/results"): R,
    ("POST", "/v1/files"): W,
    ("GET", "/v1/files/{file_id}/content"): R,
    ("POST", "/v1/batches"): W,
    ("GET", "/v1/batches/{batch_id}"): R,
    ("POST", "/v1/batches/{batch_id}/cancel"): W,
    # RAG: collections and documents are written with rag:write; searching and asking are jobs
    ("POST", "/api/v1/rag/collections"): RAG_W,
    ("GET", "/api/v1/rag/collections"): CR,
    ("GET", "/api/v1/rag/collections/{collection_id}"): CR,
    ("PATCH", "/api/v1/rag/collections/{collection_id}"): RAG_W,
    ("DELETE", "/api/v1/rag/collections/{collection_id}"): RAG_W,
    ("POST", "/api/v1/rag/collections/{collection_id}/documents"): RAG_W,
    ("GET", "/api/v1/rag/collections/{collection_id}/documents"): CR,
    ("GET", "/api/v1/rag/collections/{collection_id}/documents/{document_id}"): CR,
    ("DELETE", "/api/v1/rag/collections/{collection_id}/documents/{document_id}"): RAG_W,
    ("POST", "/api/v1/rag/collections/{collection_id}/search"): R,
    ("POST", "/api/v1/rag/query"): W,
    ("POST", "/api/v1/embeddings"): W,
    ("POST", "/v1/embeddings"): W,
    # chatbot: threads and turns (an end user's JWT is checked by the route itself)
    ("GET", "/api/v1/threads"): R,
    ("GET", "/api/v1/threads/{thread_id}"): R,
    ("PATCH", "/api/v1/threads/{thread_id}"): W,
    ("DELETE", "/api/v1/threads/{thread_id}"): W,
    ("GET", "/api/v1/threads/{thread_id}/messages"): R,
    ("POST", "/api/v1/chatbot/{bridge}/messages"): W,
    ("GET", "/api/v1/chatbot/auth"): CR,
    ("POST", "/api/v1/chatbot/secret"): CW,
    ("DELETE", "/api/v1/chatbot/secret"): CW,
    ("POST", "/api/v1/chatbot/public-keys"): CW,
    ("DELETE", "/api/v1/chatbot/public-keys/{kid}"): CW,
    ("PUT", "/api/v1/chatbot/origins"): CW,
}
# Routes an end user of an embedded chatbot may call with the JWT the org's backend signed
# (api/principal.py verifies it and scopes them to their own threads); an API key calling
# them still needs the route's scope.
END_USER_ROUTES = frozenset({
    ("GET", "/api/v1/threads"), ("GET", "/api/v1/threads/{thread_id}"), ("PATCH", "/api/v1/threads/{thread_id}"),
    ("DELETE", "/api/v1/threads/{thread_id}"), ("GET", "/api/v1/threads/{thread_id}/messages"),
    ("POST", "/api/v1/chatbot/{bridge}/messages"),
})


def is_api_key(authorization: str | None) -> bool:
    scheme, _, raw = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and raw.strip().startswith(f"{KEY_SCHEME}_")


def authenticator_of(request: HTTPConnection) -> Authenticator:
    found: Authenticator = request.app.state.authenticator
    return found


async def enforce_scope(request: HTTPConnection) -> None:
    """App-wide dependency: authenticate and check the route's scope (403 when lacking)."""
    method = request.scope.get("method", "")
    if request.scope.get("type") != "http" or method == "OPTIONS":
        return  # the WebSocket authenticates in its protocol; a CORS preflight carries no key
    route = request.scope.get("route")
    # Not getattr's default: that would build a URL object on every request.
    path = route.path if route is not None and hasattr(route, "path") else request.scope["path"]
    method = "GET" if method == "HEAD" else method
    if (method, path) not in ROUTE_SCOPES:
        raise Forbidden(f"route {method} {path} has no scope: add it to ROUTE_SCOPES in api/scopes.py",
                        code="route_not_scoped")
    required = ROUTE_SCOPES[(method, path)]
    if required is None:
        return
    if (method, path) in END_USER_ROUTES and not is_api_key(request.headers.get("authorization")):
        return
    principal = await authenticator_of(request).authenticate(request.headers.get("authorization"))
    request.state.principal = principal
    request.state.org_id = principal.org_id
    if not allows(principal.scopes, required):
        raise Forbidden(f"this API key lacks the {required.value!r} scope", code="insufficient_scope",
                        scope=required.value)


def principal_of(request: Request) -> Caller | None:
    found: Caller | None = getattr(request.state, "principal", None)
    return found
