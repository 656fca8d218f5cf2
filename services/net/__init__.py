"""Outbound network safety shared by webhooks and tool calls: see guard.py and client.py."""
