"""`jes-runner demo`: the default comparison against the embedded emulator.

The only runner module that imports the emulator (and only inside functions),
so the runner itself never depends on it.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from jes_runner.errors import ConfigError, ExitCode, JesError
from jes_runner.measure.plan import RunPlan, build_plan, load_jobs, select_phases
from jes_runner.runner import Runner
from jes_runner.config.settings import Settings, load_settings, packaged_job_config
from jes_runner.console import configure_logging

log = logging.getLogger("jes_runner.cli.commands.demo")


@contextmanager
def embedded_emulator(scenario_path: str | None = None) -> Iterator[Any]:
    try:
        from jes_runner.emulator import Emulator, load_scenario
    except ImportError as e:
        raise JesError(f"the embedded emulator is not available ({e})", ExitCode.INTERNAL) from None
    scenario = load_scenario(scenario_path) if scenario_path else None
    with Emulator(scenario=scenario, port=0) as emu:
        yield emu


def emulator_settings(settings: Settings, emu: Any) -> Settings:
    """Point the settings at the emulator; credentials from env/secrets would only get in the way."""
    return settings.model_copy(update={
        "viya_url": emu.url, "username": emu.username, "password": _secret(emu.password),
        "access_token": None, "refresh_token": None, "client_id": "sas.cli", "client_secret": None,
        # the emulator's Kubernetes API gives the node timeline; its tokens are never written back
        "kube_api_url": emu.url, "kube_api_token": None, "persist_tokens": "off",
    })


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def run_on_embedded_emulator(settings: Settings, plan: RunPlan, scenario_path: str | None = None,
                             reason: str = "demo") -> int:
    with embedded_emulator(scenario_path) as emu:
        log.info("%s: started the embedded Viya emulator in-process at %s", reason, emu.url,
                 extra={"event": "emulator_started", "url": emu.url})
        from jes_runner.shutdown import run_managed  # SIGTERM/SIGINT handling, node timeline

        return run_managed(Runner(emulator_settings(settings, emu), plan, emulated=True))


def cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings(output_dir=args.output_dir, log_format=args.log_format)
    configure_logging(settings.log_format)
    if args.limit_jobs is not None and args.limit_jobs < 1:
        raise ConfigError("--limit-jobs must be at least 1 for the demo")
    # the demo is always the seed's comparison over the shipped 54-job config
    settings = settings.model_copy(update={"phases": None, "job_config": packaged_job_config()})
    specs = select_phases(settings)
    path, jobs = load_jobs(settings, args.limit_jobs)
    plan = build_plan(specs, jobs, path)
    return run_on_embedded_emulator(settings, plan, args.scenario,
                                    f"demo ({args.scenario or 'default scenario'})")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="run the default comparison against the embedded emulator",
                              description="Start the Viya emulator in-process and run the default comparison "
                                          "(sequential, then batches of 5) over all 54 jobs.")
    p.add_argument("--output-dir", help="results directory (default results/)")
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument("--limit-jobs", type=int, help="first N jobs only")
    p.add_argument("--scenario", help="emulator scenario file (YAML/JSON) instead of the default")
    p.set_defaults(func=cmd_demo)
