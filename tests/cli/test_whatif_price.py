"""`whatif` prices with the runs' own node-hour price (JES_NODE_HOUR_PRICE / JES_CURRENCY) unless
--node-hour-price is given: one price serves runs, metrics, trend and what-if answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jes_runner.cli.main import main

MEASURED = Path(__file__).parents[1] / "analysis" / "data" / "pooled-54-measured.json"
ARGV = ["whatif", str(MEASURED), "--concurrency", "5", "--max-nodes", "1,2", "--replicates", "2"]


def _answer(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    capsys.readouterr()
    assert main([*ARGV, *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_whatif_defaults_to_the_configured_price(
    runner_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unpriced = _answer(capsys)
    assert all(c["cost"] is None for c in unpriced["configurations"])
    monkeypatch.setenv("JES_NODE_HOUR_PRICE", "0.6")
    monkeypatch.setenv("JES_CURRENCY", "EUR")
    priced = _answer(capsys)
    assert priced["currency"] == "EUR"
    for c in priced["configurations"]:
        assert c["cost"]["median"] == pytest.approx(
            c["node_minutes"]["median"] / 60 * 0.6, abs=0.01
        )
    # the flag wins over the variable
    flagged = _answer(capsys, "--node-hour-price", "1.2", "--currency", "CHF")
    assert flagged["currency"] == "CHF"
    for c in flagged["configurations"]:
        assert c["cost"]["median"] == pytest.approx(
            c["node_minutes"]["median"] / 60 * 1.2, abs=0.01
        )
