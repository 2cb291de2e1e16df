"""The `jes-runner` command line.

Each subcommand lives in the module that owns its behaviour and exposes
``register(subparsers)``, which adds its parser and sets ``func`` (a callable
taking the parsed args and returning an exit code). This file only wires them
together and turns :class:`JesError` into one line and an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from jes_runner import __version__
from jes_runner.errors import ExitCode, JesError

# Modules that register subcommands, in help order. Each is imported when the
# parser is built; keep their top-level imports light (heavy libraries such as
# matplotlib or kubernetes are imported inside the command functions).
COMMAND_MODULES: list[str] = [
    "jes_runner.emulator.cli",
    "jes_runner.runner",
    "jes_runner.cli.commands.demo",
    "jes_runner.cli.commands.discover",
    "jes_runner.cli.commands.auth",
    "jes_runner.sinks.metrics.registry",
    "jes_runner.sinks.report.html",
    "jes_runner.sinks.export",
    "jes_runner.analysis.regression",
    "jes_runner.cli.commands.orchestrator",
    "jes_runner.analysis.sweep",
    "jes_runner.cli.commands.check",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jes-runner",
        description="Measure SAS Viya batch jobs run sequentially versus concurrently.",
    )
    parser.add_argument("--version", action="version", version=f"jes-runner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return int(ExitCode.BAD_INPUT)
    try:
        return int(args.func(args))
    except JesError as e:
        print(f"error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return int(ExitCode.SIGINT)


if __name__ == "__main__":
    raise SystemExit(main())
