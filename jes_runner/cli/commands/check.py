"""`jes-runner check`: a preflight that runs nothing.

Verifies, one line per check (``ok`` / ``FAIL`` with what to fix, ``skip`` when a
check cannot run because an earlier one failed or it is not configured):

    settings and job config    loads, phases and enabled jobs
    viya                       reachable at JES_VIYA_URL
    token                      credentials give a token that Viya accepts
    context (per phase)        every phase's compute context exists
    job definitions            every enabled job resolves to a definition
    pushgateway                reachable (when JES_PUSHGATEWAY_URL is set)
    results directory          writable (JES_OUTPUT_DIR)

Exit 0 when nothing failed, 2 (``ExitCode.BAD_INPUT``) otherwise. It is what the
chart's ``helm test`` pod runs, with the CronJob's env, secrets and volumes.
The Viya calls go through the runner's own client and settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.options import add_job_config, add_output_dir, add_phase_plan, add_viya
from jes_runner.cli.session import (
    EXAMPLE_HINT,
    make_client,
    plan_from_args,
    plan_origin,
    settings_from_args,
)
from jes_runner.config.settings import Settings
from jes_runner.errors import ExitCode, JesError
from jes_runner.measure.plan import RunPlan, load_file_settings
from jes_runner.measure.preflight import context_findings, resolve_definitions
from jes_runner.viya import AuthError, ViyaClient, ViyaError, ViyaHTTPError, ViyaUnreachable

OK, FAIL, SKIP = "ok", "FAIL", "skip"


@dataclass
class Report:
    """Collects check lines and prints each as soon as it is known."""

    out: IO[str]
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, status: str, name: str, detail: str, fix: str | None = None) -> None:
        text = " ".join(detail.split())
        if fix:
            text += f" -- fix: {' '.join(fix.split())}"
        self.lines.append((status, name, text))
        self.out.write(f"{status:<4}  {name}: {text}\n")
        self.out.flush()

    @property
    def failed(self) -> int:
        return sum(1 for s, _, _ in self.lines if s == FAIL)


def _one_line(e: BaseException | str) -> str:
    return " ".join(str(e).split()) or e.__class__.__name__


# -- Viya ---------------------------------------------------------------------------


def check_viya(
    settings: Settings, plan: RunPlan | None, report: Report, client: ViyaClient | None = None
) -> None:
    """Reachability, token, contexts, definitions -- each its own line."""
    if not settings.viya_url:
        report.add(
            FAIL,
            "viya",
            "no Viya URL",
            "set JES_VIYA_URL (or --viya-url) to https://<your-viya-host>; "
            "check never uses the emulator (`jes-runner run --emulator` or `demo` measure it)",
        )
        for name in ("token", "contexts", "job definitions"):
            report.add(SKIP, name, "not checked: no Viya URL")
        return
    url = settings.viya_url
    try:
        client = client or make_client(settings)
    except JesError as e:
        report.add(FAIL, "viya", str(e))
        return
    try:
        _check_viya(settings, plan, report, client, url)
    finally:
        client.close()


def _check_viya(
    settings: Settings, plan: RunPlan | None, report: Report, client: ViyaClient, url: str
) -> None:
    try:
        # the first request (a token request, or the context list with a given token) proves reachability
        stage = "token"
        client.authenticate()
        stage = "contexts"
        contexts = client.list_contexts()
    except ViyaUnreachable as e:
        _unreachable(report, e)
        return
    except AuthError as e:
        if not _reachable(client, url, report):
            return
        report.add(OK, "viya", f"reachable at {url}")
        report.add(
            FAIL,
            "token",
            _one_line(e),
            "check username/password, client_id/client_secret or the tokens in the secrets directory "
            f"({settings.secrets_dir}) or JES_* credentials",
        )
        for name in ("contexts", "job definitions"):
            report.add(SKIP, name, "not checked: no valid token")
        return
    except ViyaHTTPError as e:
        report.add(OK, "viya", f"reachable at {url}")
        if stage == "token":
            report.add(
                FAIL,
                "token",
                f"SASLogon answered with an error: {_one_line(e)}",
                "check JES_VIYA_URL points at the Viya ingress and the OAuth client exists",
            )
        else:
            report.add(OK, "token", _token_detail(settings, client))
            report.add(
                FAIL,
                "contexts",
                f"cannot list compute contexts: {_one_line(e)}",
                "the user needs read access to /compute/contexts",
            )
        report.add(SKIP, "job definitions", "not checked")
        return
    except ViyaError as e:
        report.add(
            FAIL,
            "viya",
            f"unexpected answer from {url}: {_one_line(e)}",
            "check JES_VIYA_URL is the Viya base URL",
        )
        return

    report.add(OK, "viya", f"reachable at {url}")
    report.add(OK, "token", _token_detail(settings, client))
    if plan is None:
        report.add(SKIP, "contexts", "not checked: no plan (settings or job config failed)")
        report.add(SKIP, "job definitions", "not checked: no plan (settings or job config failed)")
        return

    failed = {f.name: f for f in context_findings(plan, contexts)}
    for phase in plan.phases:
        name = f"context '{phase.context}'"
        if name in failed:
            report.add(FAIL, name, failed[name].problem, failed[name].fix)
        else:
            report.add(OK, name, f"exists (phase '{phase.name}')")

    try:
        definitions = client.list_job_definitions()
    except ViyaError as e:
        report.add(
            FAIL,
            "job definitions",
            f"cannot list job definitions: {_one_line(e)}",
            "the user needs read access to /jobDefinitions/definitions",
        )
        return
    _, missing = resolve_definitions(plan, definitions)
    for f in missing:
        report.add(FAIL, f.name, f.problem, f.fix)
    if not missing:
        report.add(
            OK,
            "job definitions",
            f"all {len(plan.jobs)} enabled jobs resolve ({plan.job_config_path})",
        )


def _unreachable(report: Report, e: ViyaUnreachable) -> None:
    report.add(
        FAIL,
        "viya",
        _one_line(e),
        "check JES_VIYA_URL, DNS, and the NetworkPolicy / firewall egress to Viya",
    )
    for name in ("token", "contexts", "job definitions"):
        report.add(SKIP, name, "not checked: Viya is unreachable")


def _reachable(client: ViyaClient, url: str, report: Report) -> bool:
    """Only an answer proves reachability: no credentials means no request was made yet."""
    if client.answered:
        return True
    try:
        client.ping()
    except ViyaUnreachable as e:
        _unreachable(report, e)
        return False
    return True


def _token_detail(settings: Settings, client: ViyaClient) -> str:
    obtained = getattr(client.auth, "token_requests", 0)
    if obtained:
        if settings.secret("refresh_token"):
            how = "refresh token"
        elif settings.secret("client_secret"):
            how = "client credentials"
        else:
            how = f"password grant for user '{settings.username}'"
        return f"obtained from SASLogon ({how}) and accepted by Viya"
    return "the given access token is accepted by Viya"


# -- Pushgateway ----------------------------------------------------------------------


def check_pushgateway(settings: Settings, report: Report, timeout: float = 10.0) -> None:
    url = settings.pushgateway_url
    if not url:
        report.add(SKIP, "pushgateway", "not configured (set JES_PUSHGATEWAY_URL to push metrics)")
        return
    from jes_runner.sinks.metrics.push import PushHTTPError, pushgateway_handler, redact_url

    shown = redact_url(url)
    base = url.rstrip("/")
    handler = pushgateway_handler(
        username=_setting_secret(settings, "pushgateway_username"),
        password=_setting_secret(settings, "pushgateway_password"),
        token=_setting_secret(settings, "pushgateway_token"),
        ca_bundle=getattr(settings, "pushgateway_ca_bundle", None),
    )
    try:
        # /-/ready answers 200 once the gateway accepts pushes; same auth and TLS as the push
        handler(f"{base}/-/ready", "GET", timeout, [], b"")()
    except PushHTTPError as e:
        fix = (
            "check the Pushgateway credentials"
            if e.status in (401, 403)
            else "check JES_PUSHGATEWAY_URL is the Pushgateway's base URL"
        )
        report.add(FAIL, "pushgateway", f"{shown} answered {_one_line(e)}", fix)
        return
    except (OSError, urllib.error.URLError, ValueError) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        report.add(
            FAIL,
            "pushgateway",
            f"cannot reach {shown} ({reason.__class__.__name__}: {_one_line(reason)})",
            "check JES_PUSHGATEWAY_URL, the Pushgateway service, and NetworkPolicy egress to it",
        )
        return
    report.add(OK, "pushgateway", f"reachable at {shown}")


def _setting_secret(settings: Settings, name: str) -> str | None:
    value = getattr(settings, name, None)
    if value is None:
        return None
    return settings.secret(name) or None


# -- results directory ------------------------------------------------------------------


def check_results_dir(settings: Settings, report: Report) -> None:
    out = Path(settings.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".jes-check-", delete=True) as f:
            f.write(b"jes-runner check\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        report.add(
            FAIL,
            "results directory",
            f"{out} is not writable ({e.__class__.__name__}: {e.strerror or e})",
            "mount a writable volume there (chart: persistence.*) or set JES_OUTPUT_DIR",
        )
        return
    report.add(OK, "results directory", f"{out.resolve()} is writable")


# -- the command ------------------------------------------------------------------------


def run_checks(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    report = Report(out or sys.stdout)
    try:
        settings = settings_from_args(args)
    except JesError as e:
        report.add(FAIL, "settings", str(e), "fix the JES_* environment / .env / secrets directory")
        return int(ExitCode.BAD_INPUT)

    plan: RunPlan | None = None
    try:
        # the job config's original-tool settings (contexts, concurrency) shape the phases checked
        plan = plan_from_args(settings, args, file_settings=load_file_settings(settings))
    except JesError as e:
        report.add(FAIL, "job config", str(e))
    else:
        origin = plan_origin(plan, args)
        example = f" -- {EXAMPLE_HINT}" if origin.example and settings.viya_url else ""
        report.add(
            OK,
            "settings",
            f"{len(plan.phases)} phase(s) ({', '.join(p.name for p in plan.phases)}), "
            f"{len(plan.jobs)} enabled job(s) from {origin.describe()}{example}",
        )

    check_viya(settings, plan, report)
    check_pushgateway(settings, report)
    check_results_dir(settings, report)

    failed = report.failed
    if failed:
        report.out.write(f"check: {failed} check(s) failed\n")
        return int(ExitCode.BAD_INPUT)
    report.out.write("check: all checks passed\n")
    return int(ExitCode.OK)


def cmd_check(args: argparse.Namespace) -> int:
    return run_checks(args)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help=SUMMARIES["check"],
        description="Check everything a run needs without submitting any job: one line per check "
        "(ok / FAIL with what to fix); exit 2 if any check fails.",
    )
    add_viya(p, url_help="Viya base URL (JES_VIYA_URL); required: check never starts the emulator")
    add_job_config(p)
    add_phase_plan(p)
    add_output_dir(p)
    p.add_argument(
        "--pushgateway-url",
        help="Pushgateway URL to check (JES_PUSHGATEWAY_URL); unset: not checked",
    )
    p.set_defaults(func=cmd_check)
