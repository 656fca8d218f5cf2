"""Scheduling: provider capacity shaping, fair shares between orgs, priorities."""
