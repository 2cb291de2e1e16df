"""The `jes-runner` command line: parse, dispatch to one command, turn errors into one line.

Only the command being run is imported (``jes_runner.cli.commands.<name>``), so
``jes-runner --help`` and ``--version`` load neither matplotlib, the kubernetes
client nor the emulator. A :class:`JesError` becomes one ``error:`` line on stderr
and its exit code; a closed stdout (``jes-runner orchestrator | head -1``) ends
quietly with exit 0.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from jes_runner import __version__
from jes_runner.cli.commands import SUMMARIES
from jes_runner.errors import ExitCode, JesError, missing_extra


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named on the command line (options before it are global: -h, --version)."""
    return next((a for a in argv if not a.startswith("-")), None)


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error shape: one ``error:`` line (and where the usage is), exit 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"error: {' '.join(message.split())} -- see `{self.prog} --help`\n")
        raise SystemExit(int(ExitCode.BAD_INPUT))


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jes-runner",
        description="Measure SAS Viya batch jobs run sequentially versus concurrently.",
    )
    parser.add_argument("--version", action="version", version=f"jes-runner {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = _chosen(argv)
    for name, summary in SUMMARIES.items():
        if name == chosen:
            importlib.import_module(f"jes_runner.cli.commands.{name}").register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)  # imports the chosen command's module
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return int(ExitCode.BAD_INPUT)
        return int(args.func(args))
    except JesError as e:
        print(f"error: {e}", file=sys.stderr)
        return int(e.exit_code)
    # a command of an extra that is not installed (the image has no report)
    except ImportError as e:
        extra = missing_extra(e)
        if extra is None:
            raise
        print(f"error: {extra}", file=sys.stderr)
        return int(extra.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return int(ExitCode.SIGINT)
    except BrokenPipeError:
        return _closed_stdout()


def _closed_stdout() -> int:
    """The reader went away (``| head``): not an error. Point stdout at /dev/null so the
    interpreter's final flush does not raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return int(ExitCode.OK)


if __name__ == "__main__":
    raise SystemExit(main())
