"""The dashboard test migrates a private schema, as the metrics tests do."""

from tests.services.metrics.conftest import pg_schema

__all__ = ["pg_schema"]
