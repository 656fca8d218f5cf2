"""Bridges: an integrator's saved chat configuration, versioned, called by id or slug."""
