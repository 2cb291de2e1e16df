"""The `jes-runner` command line: thin commands over the library (see :mod:`.main`)."""

from jes_runner.cli.main import main

__all__ = ["main"]
