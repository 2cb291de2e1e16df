"""Errors raised by the Viya client. Messages never carry tokens or passwords."""

from __future__ import annotations


class ViyaError(Exception):
    """Anything that went wrong talking to Viya."""


class ViyaUnreachable(ViyaError):
    """No HTTP answer at all: DNS, refused connection, TLS failure, timeout."""


class ViyaHTTPError(ViyaError):
    """Viya answered with an error status."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")


class AuthError(ViyaError):
    """No usable token: credentials refused, refresh failed, nothing to authenticate with."""


class SubmissionLost(ViyaError):
    """A POST whose outcome is unknown and could not be settled by a lookup."""
