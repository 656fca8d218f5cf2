"""Metrics: one row per finished job, usage analytics over those rows.

schemas.py (event, envelope and report models), publisher.py (job listener -> outbox.py,
which sends many events per message to the `metrics` queue), batcher.py (size/age batches,
ack after commit), sink.py (the port), memory_sink.py and postgres_sink.py (adapters),
migrate.py + migrations/ (schema), usage.py (the API's service), setup.py (start-up
wiring). The queue handler is workers/handlers/metrics.py.
"""
