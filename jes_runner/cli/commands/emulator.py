"""``jes-runner emulator``: run the Viya emulator in the foreground.

Defaults: ``--host 127.0.0.1 --port 8080 --user jes --password jes-demo-password``
and the default scenario. Prints one line with the URL, then serves until
SIGINT or SIGTERM, which stop it cleanly (exit code 0: stopping is the normal
way to end a server).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from jes_runner.cli.commands import SUMMARIES

DEFAULT_PORT = 8080


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "emulator",
        help=SUMMARIES["emulator"],
        description="Serve the SAS Viya REST API shapes (SASLogon, Job Execution, Job Definitions, "
        "Compute contexts, Workload Orchestrator) backed by a simulated AKS cluster.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port, 0 for any free one (default: {DEFAULT_PORT})",
    )
    p.add_argument(
        "--user", default="jes", help="the user the password grant accepts (default: jes)"
    )
    p.add_argument(
        "--password",
        default="jes-demo-password",
        help="that user's password (default: jes-demo-password)",
    )
    p.add_argument(
        "--scenario",
        metavar="FILE",
        help="scenario YAML/JSON (default: the shipped default scenario)",
    )
    p.add_argument(
        "--speed-factor",
        type=float,
        help="real seconds per model second (default: the scenario's, 0.005)",
    )
    p.add_argument(
        "--seed", type=int, help="RNG seed for ids and failure draws (default: the scenario's)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from jes_runner.emulator.app import Emulator

    emu = Emulator(
        scenario=args.scenario,
        host=args.host,
        port=args.port,
        username=args.user,
        password=args.password,
        speed_factor=args.speed_factor,
        seed=args.seed,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        emu.start()
        print(
            f"jes-runner emulator listening on {emu.url} (user {emu.username}, scenario {emu.scenario.name}, "
            f"speed factor {emu.scenario.speed_factor}); Ctrl-C to stop",
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
        for s, h in previous.items():
            signal.signal(s, h)
    print("jes-runner emulator stopped", file=sys.stderr, flush=True)
    return 0
