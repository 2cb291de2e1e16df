"""The alert rules file: promtool check / unit tests, and the chart's parameter substitution."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from metrics_helpers import RULE_TOKENS, RULES, RULES_TEST, RUNBOOK_BASE, alert_rules, render_rules
from support.servers import promtool

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

ALERTS = {
    "JesRunFailedJobs",
    "JesNoRecentSuccess",
    "JesSpeedupDropped",
    "JesPushStale",
    "JesMetricsGroupMissing",
    "JesMetricsAbsent",
}


def test_promtool_check_rules() -> None:
    res = promtool("check", "rules", RULES)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in res.stdout


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
    assert f"[{int(multiple * schedule)}s]" in exprs["JesMetricsAbsent"]
    assert "86400" not in "".join(exprs.values()) and "172800" not in "".join(exprs.values())


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
