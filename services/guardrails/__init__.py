"""PII guardrails per bridge: redaction, block lists and an optional moderation call (pure)."""
