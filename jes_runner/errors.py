"""Errors that end a command with one clear line and a documented exit code.

Every failure a user can cause (bad config, unknown context, bad credentials,
unreachable URL, full disk) is raised as a :class:`JesError`; the CLI prints
``error: <message>`` on one line and exits with ``exit_code`` -- never a traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Documented exit codes (README "Exit codes")."""

    OK = 0
    INTERNAL = 1  # a bug: unexpected exception
    BAD_INPUT = 2  # config, settings, preflight (context, definition, credentials, URL)
    JOB_FAILURES = 3  # measured, but some jobs failed, were canceled or timed out
    PUSH_FAILED = 4  # measured and written, but the Pushgateway push failed
    RESULTS_UNWRITABLE = 5  # results file could not be written (full / read-only disk)
    THRESHOLD = 6  # a configured threshold (or `compare` tolerance) was crossed
    AUTH_FAILED = 7  # authentication refused during the run (refresh refused, no other grant)
    SIGINT = 130
    SIGTERM = 143


class JesError(Exception):
    """A user-facing error: one line naming what is wrong and how to fix it."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:  # keep it to one line whatever the cause
        return " ".join(str(self.args[0]).split())


class ConfigError(JesError):
    """A malformed job config, scenario or settings file."""


class PreflightError(JesError):
    """Viya is unreachable, a token is refused, a context or definition is unknown."""


class AuthFailedError(JesError):
    """The run lost its authentication midway: jobs it had in flight may still run on the server."""

    exit_code = ExitCode.AUTH_FAILED


class ResultsWriteError(JesError):
    exit_code = ExitCode.RESULTS_UNWRITABLE


# modules of the optional `report` extra (pyproject.toml), left out of the container image
REPORT_EXTRA_MODULES = frozenset({"matplotlib", "openpyxl"})


def missing_extra(e: ImportError) -> JesError | None:
    """A JesError naming the extra to install when ``e`` is a module of the `report` extra."""
    root = (e.name or "").split(".")[0]
    if root not in REPORT_EXTRA_MODULES:
        return None
    return JesError(
        f"this needs {root}, which is not installed: pip install 'jes-runner[report]' "
        "(the container image leaves it out: write reports from the results files elsewhere)"
    )


def extra_installed(module: str = "matplotlib") -> bool:
    """Whether a module of the `report` extra can be imported here (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a finder that refuses the module outright
        return False
