"""A request refused: its status, one-line message, reason (for the metrics) and headers."""
from __future__ import annotations

from starlette.responses import JSONResponse


class Refused(Exception):
    """A request answered with ``status`` and a one-line error (headers such as Retry-After)."""

    def __init__(self, status: int, message: str, reason: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.reason, self.headers = status, reason, headers or {}


def error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status, headers=headers)
