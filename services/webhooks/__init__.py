"""Webhook delivery: signed (Standard Webhooks), retried on a schedule, logged, and safe.

- models.py: endpoints, events, deliveries, attempts and the `webhooks` queue message.
- dispatch.py: the job-finished listener (records and queues one delivery per target).
- deliver.py: one attempt per message, and what follows (success, retry, 410, exhausted).
- sender.py, signing.py, payloads.py: the HTTP attempt, the signature, the event body.
- store.py (port), memory_store.py, redis_store.py: endpoints, secrets and the delivery log.
- service.py: what the API does (endpoint CRUD, rotation, test sends, redelivery).
- runtime.py: what a process holds (built by the composition root); cache.py, limiter.py: its helpers.
Outbound safety (address checks, pinned connections) lives in services/net.
"""
