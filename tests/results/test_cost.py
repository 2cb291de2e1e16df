"""Cost per phase (issue 24): node-seconds x the node-hour price, checked against the emulator's
ground truth (its node events and job hosts), in the modelled cluster's seconds for an emulated
run; no price, no cost; `recover` prices a dead run from the run's own settings."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from support.kube_support import latest_results, run_cli
from support.servers import parse_metrics_text

from jes_runner._util import parse_ts
from jes_runner.config.settings import load_settings
from jes_runner.errors import ConfigError
from jes_runner.results.cost import Clock, Price, phase_cost, price_phases
from jes_runner.results.recovery import recover
from jes_runner.results.schema import validate_results
from jes_runner.results.views import phase_views
from jes_runner.sinks.export import phase_rows
from jes_runner.sinks.metrics.registry import build_registry
from jes_runner.sinks.report.html import build_report
from jes_runner.sinks.summary import render_summary

PRICE = 2.5
LIMIT = "6"


def _epoch(iso: str) -> float:
    ts = parse_ts(iso)
    assert ts is not None
    return ts.timestamp()


def _table(summary: str) -> list[str]:
    """The terminal summary from its table's head on."""
    lines = summary.splitlines()
    return lines[next(i for i, line in enumerate(lines) if line.startswith("phase ")) :]


def truth_node_seconds(truth: dict[str, Any], phase: dict[str, Any]) -> float:
    """Served node-seconds of the phase's pools over its window, from the emulator's own history:
    the pools of the hosts its jobs ran on, each node from its add event (or before the phase) to
    its remove event (or after it)."""
    start, end = _epoch(phase["started_at"]), _epoch(phase["ended_at"])
    names = {j["unique_job_name"] for j in phase["jobs"]}
    pool_of = {n["name"]: n["pool"] for n in truth["nodes"]}
    pools = {pool_of[j["host"]] for j in truth["jobs"] if j["name"] in names and j["host"]}
    assert pools, "the phase's jobs ran on no node"
    total = 0.0
    for node in (n["name"] for n in truth["nodes"] if n["pool"] in pools):
        events = {e["event"]: e["epoch"] for e in truth["node_events"] if e["node"] == node}
        added, removed = events.get("add", -math.inf), events.get("remove", math.inf)
        total += max(0.0, min(end, removed) - max(start, added))
    return total


@pytest.fixture
def emulated_run(
    make_emulator: Callable[..., Any],
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[..., tuple[dict[str, Any], Any]]:
    """`jes-runner run --viya-url EMULATOR` with its Kubernetes API (the node timeline)."""
    for k in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(k, raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def run(*flags: str, speed_factor: float = 0.004) -> tuple[dict[str, Any], Any]:
        emu = make_emulator(speed_factor=speed_factor)
        monkeypatch.setenv("JES_USERNAME", emu.username)
        monkeypatch.setenv("JES_PASSWORD", emu.password)
        monkeypatch.setenv("JES_KUBE_API_URL", emu.url)
        out = tmp_path / f"out-{len(list(tmp_path.glob('out-*')))}"
        argv = ["run", "--viya-url", emu.url, "--limit-jobs", LIMIT, "--output-dir", str(out)]
        assert run_cli([*argv, "--no-report", *flags]) == 0
        return latest_results(out), emu

    return run


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_cost_is_the_ground_truth_node_hours_in_model_seconds_times_the_price(
    emulated_run: Callable[..., tuple[dict[str, Any], Any]],
) -> None:
    doc, emu = emulated_run("--node-hour-price", str(PRICE), "--currency", "eur")
    truth = emu.ground_truth()
    sf = truth["speed_factor"]
    assert doc["emulator"] and doc["metadata"]["emulator_model"]["speed_factor"] == sf
    for phase in doc["phases"]:
        cost = phase["cost"]
        model_node_s = truth_node_seconds(truth, phase) / sf  # the modelled cluster's seconds
        # served timestamps are to the millisecond: a few ms per node, x 1/sf in model seconds
        assert cost["node_seconds"] == pytest.approx(model_node_s, rel=0.01, abs=0.01 / sf)
        assert cost["amount"] == pytest.approx(
            model_node_s / 3600 * PRICE, rel=0.01, abs=0.01 / sf / 3600 * PRICE
        )
        assert cost["amount"] > 0
        assert (cost["currency"], cost["node_hour_price"]) == ("EUR", PRICE)
        assert "modelled cluster's seconds" in cost["basis"]
    # the metric: the same amount, labelled with the currency and as emulated
    text = generate_latest(build_registry(doc)).decode()
    samples = [(lbl, v) for n, lbl, v in parse_metrics_text(text) if n == "jes_phase_cost"]
    assert sorted((lbl["phase"], lbl["currency"], lbl["emulated"], v) for lbl, v in samples) == (
        sorted((p["name"], "EUR", "true", p["cost"]["amount"]) for p in doc["phases"])
    )


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_no_price_no_cost_and_no_metric_sample(
    emulated_run: Callable[..., tuple[dict[str, Any], Any]],
) -> None:
    doc, _ = emulated_run()
    assert doc["status"] == "completed"
    assert all("cost" not in p for p in doc["phases"])
    assert all(p["scaling"]["node_seconds"] > 0 for p in doc["phases"])  # measured, not priced
    text = generate_latest(build_registry(doc)).decode()
    assert not [n for n, _, _ in parse_metrics_text(text) if n == "jes_phase_cost"]
    assert "cost" not in _table(render_summary(doc))[0]


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_recover_prices_a_dead_run_from_its_own_settings(
    emulated_run: Callable[..., tuple[dict[str, Any], Any]], tmp_path: Path
) -> None:
    """The checkpoint's run line carries the price; the node timeline is not checkpointed, so
    the recovered cost is unknown (null), never 0 -- and says why."""
    doc, _ = emulated_run("--node-hour-price", "1.25", "--currency", "CHF")
    (checkpoint,) = tmp_path.glob("out-*/*.checkpoint.jsonl")
    recovered = recover(checkpoint)
    assert not validate_results(recovered)
    assert [p["name"] for p in recovered["phases"]] == [p["name"] for p in doc["phases"]]
    for p in recovered["phases"]:
        cost = p["cost"]
        assert (cost["currency"], cost["node_hour_price"]) == ("CHF", 1.25)
        assert cost["amount"] is None and cost["node_seconds"] is None
        assert "unknown" in cost["basis"]


# -- one place, unit level --------------------------------------------------------------


def _doc(*, emulated: bool, sf: float | None, node_seconds: float | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "settings": {"node_hour_price": 1.5, "currency": "EUR"},
        "emulator": emulated,
    }
    if sf is not None:
        meta["emulator_model"] = {"speed_factor": sf}
    scaling = (
        None if node_seconds is None else {"source": "kubernetes", "node_seconds": node_seconds}
    )
    return {"emulator": emulated, "metadata": meta, "phases": [{"name": "p", "scaling": scaling}]}


def test_a_real_run_is_priced_in_its_own_seconds_and_an_emulated_one_in_model_seconds() -> None:
    real = _doc(emulated=False, sf=0.01, node_seconds=7200.0)  # a stray speed factor is ignored
    price_phases(real)
    assert real["phases"][0]["cost"]["amount"] == pytest.approx(2 * 1.5)
    emulated = _doc(emulated=True, sf=0.01, node_seconds=72.0)  # 72 served s = 7200 model s
    price_phases(emulated)
    assert emulated["phases"][0]["cost"]["amount"] == pytest.approx(2 * 1.5)


@pytest.mark.parametrize(
    "doc",
    [
        _doc(emulated=False, sf=None, node_seconds=None),  # node timeline off
        _doc(emulated=True, sf=None, node_seconds=50.0),  # served seconds of an unknown clock
    ],
    ids=["no-node-seconds", "emulated-without-speed-factor"],
)
def test_unknown_node_seconds_give_an_unknown_cost_never_zero(doc: dict[str, Any]) -> None:
    price_phases(doc)
    cost = doc["phases"][0]["cost"]
    assert cost["amount"] is None and "unknown" in cost["basis"]


def test_currency_is_a_label_and_the_price_scales_the_amount() -> None:
    phase = {"scaling": {"source": "orchestrator", "node_seconds": 5400.0}}
    clock = Clock(emulated=False, speed_factor=None)
    a = phase_cost(phase, Price(0.8, "EUR"), clock)["amount"]
    b = phase_cost(phase, Price(0.8, "USD"), clock)["amount"]
    c = phase_cost(phase, Price(1.6, "EUR"), clock)["amount"]
    assert a == b == pytest.approx(1.5 * 0.8) and c == pytest.approx(2 * a)


def test_settings_validate_the_price_and_the_currency(
    runner_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JES_NODE_HOUR_PRICE", "0.77")
    monkeypatch.setenv("JES_CURRENCY", "eur")
    s = load_settings()
    assert (s.node_hour_price, s.currency) == (0.77, "EUR")
    assert load_settings(node_hour_price=0.0).node_hour_price == 0.0  # a free pool is a price
    monkeypatch.delenv("JES_CURRENCY")
    assert load_settings().currency == "USD"
    monkeypatch.setenv("JES_CURRENCY", " ")  # blank, as `JES_CURRENCY=` in a .env
    assert load_settings().currency == "USD"
    for kw, flag in (
        ({"node_hour_price": -1.0}, "--node-hour-price"),
        ({"node_hour_price": math.inf}, "--node-hour-price"),
        ({"currency": "€"}, "--currency"),
        ({"currency": "EURO-1"}, "--currency"),
    ):
        with pytest.raises(ConfigError) as e:
            load_settings(**kw)
        assert flag in str(e.value) and "\n" not in str(e.value), kw


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_summary_report_and_export_show_the_cost(tmp_path: Path) -> None:
    """From a priced real-format document: the columns carry the amounts the document holds."""
    base = json.loads(
        (Path(__file__).parents[1] / "support" / "data" / "pooled54_study.json").read_text()
    )
    doc = copy.deepcopy(base)
    doc["metadata"]["settings"] = {
        **(doc["metadata"].get("settings") or {}),
        "node_hour_price": 3.0,
        "currency": "GBP",
    }
    for i, p in enumerate(doc["phases"]):
        p["scaling"] = {"source": "kubernetes", "node_seconds": 3600.0 * (i + 1)}
    price_phases(doc)
    amounts = [3.0 * (i + 1) for i in range(len(doc["phases"]))]
    assert [p["cost"]["amount"] for p in doc["phases"]] == pytest.approx(amounts)

    head, _, *rows = _table(render_summary(doc))
    assert head.rstrip().endswith("cost GBP")
    assert [row.split()[-1] for row in rows[: len(amounts)]] == [f"{a:.2f}" for a in amounts]
    html = build_report(doc).html
    assert "Cost (GBP)</th>" in html
    for p in doc["phases"]:
        assert f'data-v="{p["cost"]["amount"]:g}" title="{p["cost"]["basis"]}"' in html
    header, rows = phase_rows(phase_views(doc), doc)
    assert "cost_amount" in header and [r["cost_amount"] for r in rows] == pytest.approx(amounts)
    assert {r["cost_currency"] for r in rows} == {"GBP"}
