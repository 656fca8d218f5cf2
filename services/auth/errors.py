"""Authorization refusals (authentication failures are services.errors.Unauthorized)."""

from services.errors import PlatformError


class Forbidden(PlatformError):
    """403: the key is valid but may not do this (a scope it lacks)."""

    code = "forbidden"
    status = 403
