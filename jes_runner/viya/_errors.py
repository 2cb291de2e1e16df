"""Errors raised by the Viya client. Messages never carry tokens or passwords."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from jes_runner.errors import JesError, PreflightError


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


@contextmanager
def user_errors(action: str, error: type[JesError] = PreflightError) -> Iterator[None]:
    """Turn client errors into the one line a command prints (exit 2 unless ``error`` says otherwise)."""
    try:
        yield
    except ViyaUnreachable as e:
        raise PreflightError(f"{e} -- check JES_VIYA_URL / --viya-url") from None
    except AuthError as e:
        raise PreflightError(f"authentication failed: {e}") from None
    except ViyaError as e:
        raise error(f"{action} failed: {e}") from None
