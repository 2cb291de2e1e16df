"""The alert rules file: promtool check / unit tests, and the chart's parameter substitution."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from metrics_helpers import (
    RULE_TOKENS,
    RULES,
    RULES_TEST,
    RUNBOOK_BASE,
    SCRAPES,
    alert_rules,
    make_results,
    render_rules,
)
from support.servers import api, prometheus, promtool, pushgateway, query, wait_for

from jes_runner.sinks.metrics.push import push_results

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

ALERTS = {
    "JesRunFailedJobs",
    "JesNoRecentSuccess",
    "JesSpeedupDropped",
    "JesPushStale",
    "JesMetricsGroupMissing",
    "JesMetricsAbsent",
}
RECORDS = {"jes:phase_speedup_ratio:comparable"}


def test_promtool_check_rules() -> None:
    res = promtool("check", "rules", RULES)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(ALERTS) + len(RECORDS)} rules found" in res.stdout


def test_promtool_unit_tests() -> None:
    res = promtool("test", "rules", RULES_TEST)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout


def test_every_alert_is_unit_tested_firing_and_not_firing() -> None:
    assert {r["alert"] for r in alert_rules()} == ALERTS
    doc = yaml.safe_load(RULES_TEST.read_text())
    firing: set[str] = set()
    silent: set[str] = set()
    for case in doc["tests"]:
        for t in case.get("alert_rule_test", []):
            (firing if t["exp_alerts"] else silent).add(t["alertname"])
    assert firing == ALERTS and silent == ALERTS


def test_documented_tokens_occur_exactly_as_the_chart_expects() -> None:
    text = RULES.read_text()
    body = text.split("\ngroups:", 1)[1]  # the header comments document them too
    for token, n in RULE_TOKENS.items():
        assert body.count(token) == n, token
    readme = (RULES.parent / "README.md").read_text()
    for token in RULE_TOKENS:
        assert f"`{token}`" in readme


@pytest.mark.parametrize(("schedule", "multiple", "fraction"), [(3600, 3, 0.5), (604800, 1.5, 0.9)])
def test_substituted_rules_are_valid_and_carry_the_values(
    tmp_path: Path, schedule: int, multiple: float, fraction: float
) -> None:
    text = render_rules(schedule, multiple, fraction)
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    res = promtool("check", "rules", path)
    assert res.returncode == 0, res.stdout + res.stderr
    exprs = {r["alert"]: r["expr"] for r in alert_rules(text)}
    assert f"> {multiple} * {schedule}" in exprs["JesNoRecentSuccess"]
    assert f"> {multiple} * {schedule}" in exprs["JesPushStale"]
    assert f"{fraction} * quantile_over_time" in exprs["JesSpeedupDropped"]
    (absent,) = [r for r in alert_rules(text) if r["alert"] == "JesMetricsAbsent"]
    assert absent["for"] == f"{int(multiple * schedule)}s"
    assert "86400" not in "".join(exprs.values()) and "172800" not in text


def test_no_rule_selects_on_job_and_every_alert_has_its_runbook_section() -> None:
    import re

    runbook = (RULES.parents[3] / "docs" / "RUNBOOK.md").read_text()
    sections = set(re.findall(r"(?m)^## (Jes\w+)$", runbook))
    for rule in alert_rules():
        assert not re.search(r"\bjob\s*[=!]", rule["expr"]), rule["alert"]
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}#{rule['alert'].lower()}"
        assert rule["alert"] in sections, f"docs/RUNBOOK.md has no section for {rule['alert']}"
    for section in ("Means", "Check", "Fix"):
        assert runbook.count(f"**{section}**") == len(sections) == len(ALERTS)


def test_every_rule_is_scoped_to_the_scheduled_profiles() -> None:
    """As shipped: every rule excludes the CLI's ad-hoc profile; rendered for one profile,
    every rule selects exactly it (no placeholder left that could fire for ever)."""

    def rules(text: str) -> list[dict]:
        return [r for g in yaml.safe_load(text)["groups"] for r in g["rules"]]

    for rule in rules(RULES.read_text()):
        name = rule.get("alert") or rule["record"]
        assert 'profile!="adhoc"' in rule["expr"] or ":comparable" in rule["expr"], name
    for rule in rules(render_rules(profile="nightly")):
        assert "adhoc" not in rule["expr"]
        assert (
            'profile=~"nightly"' in rule["expr"]
            or 'profile="nightly"' in rule["expr"]
            or (":comparable" in rule["expr"])
        )


# -- the chart's rules on a real Prometheus: quiet until there is something to say -----

HELM = "/usr/local/bin/helm"
QUIET_SECONDS = 90
CHART = RULES.parents[1]


def chart_rules(tmp_path: Path, *values: str) -> Path:
    """The PrometheusRule the chart renders (default values + ``values``) as a rule file."""
    res = subprocess.run(
        [
            HELM,
            "template",
            "jes",
            str(CHART),
            "--set",
            "runner.viyaUrl=https://viya.example.com",
            "--set",
            "prometheusRule.enabled=true",
            "-s",
            "templates/prometheusrule.yaml",
            *values,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert res.returncode == 0, res.stderr
    spec = yaml.safe_load(res.stdout)["spec"]
    path = tmp_path / "chart-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": spec["groups"]}))
    check = promtool("check", "rules", path)
    assert check.returncode == 0, check.stdout + check.stderr
    return path


def alerts(prom: str, state: str | None = None) -> set[tuple[str, str]]:
    return {
        (a["labels"]["alertname"], a["labels"].get("profile", ""))
        for a in api(prom, "alerts")["alerts"]
        if state is None or a["state"] == state
    }


def evaluated(prom: str) -> bool:
    rules = [r for g in api(prom, "rules")["groups"] for r in g["rules"]]
    return bool(rules) and all(r.get("lastEvaluation", "").startswith("2") for r in rules)


@pytest.mark.services
@pytest.mark.slow
def test_chart_rules_stay_quiet_on_an_empty_gateway_and_after_an_adhoc_run(tmp_path: Path) -> None:
    """Default values, both scrape styles: nothing fires for 90 s on an empty Pushgateway; an
    ad-hoc run with a failed job (that would fire JesRunFailedJobs and JesNoRecentSuccess at
    once if it were in scope) adds nothing; the same run under the release's profile fires."""
    rules = chart_rules(tmp_path)
    (absent,) = [r for r in alert_rules(rules.read_text()) if r["alert"] == "JesMetricsAbsent"]
    assert absent["for"] == "172800s"  # 2 x the default daily schedule
    with (
        pushgateway(tmp_path / "pg") as pg,
        prometheus(tmp_path / "p1", [pg.address], rule_files=[rules]) as p1,
        prometheus(tmp_path / "p2", [pg.address], rule_files=[rules], honor_labels=False) as p2,
    ):
        proms = {SCRAPES[0]: p1.url, SCRAPES[1]: p2.url}
        for prom in proms.values():
            wait_for(lambda p=prom: evaluated(p), timeout=30, what="the rules to be evaluated")
        deadline = time.monotonic() + QUIET_SECONDS
        while time.monotonic() < deadline:
            for scrape, prom in proms.items():
                assert not alerts(prom, "firing"), (scrape, alerts(prom))
            time.sleep(5)
        before = {scrape: alerts(prom) for scrape, prom in proms.items()}
        assert all(b <= {("JesMetricsAbsent", "jes")} for b in before.values()), before

        s = SimpleNamespace(pushgateway_url=pg.url, cluster="c1", environment="prod")
        adhoc = make_results(failed=("AE",), status="completed_with_failures", profile="adhoc")
        push_results(adhoc, s)
        for prom in proms.values():
            wait_for(
                lambda p=prom: query(p, 'jes_run_info{profile="adhoc"}'),
                timeout=30,
                what="the ad-hoc push to be scraped",
            )
        time.sleep(10)  # several evaluations with the ad-hoc data
        for scrape, prom in proms.items():
            assert alerts(prom) == before[scrape], (scrape, alerts(prom))

        scheduled = make_results(failed=("AE",), status="completed_with_failures", profile="jes")
        push_results(scheduled, s)
        for prom in proms.values():
            wait_for(
                lambda p=prom: ("JesRunFailedJobs", "jes") in alerts(p, "firing"),
                timeout=30,
                what="the scheduled profile's failed jobs to fire",
            )
            assert not {a for a in alerts(prom) if a[1] == "adhoc"}
