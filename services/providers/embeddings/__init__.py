"""Embedding adapters beyond the chat providers' own `embed`: the offline `local` one."""
