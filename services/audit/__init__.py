"""The append-only audit log of configuration changes (who changed what, before/after)."""
