"""sim/calibration.py: the measured session replayed as the model's own history."""

from __future__ import annotations

import pytest

from jes_runner.sim.calibration import replay
from jes_runner.sim.fidelity import session_fidelity
from jes_runner.sim.scenario import default_scenario


def test_the_replay_needs_no_measured_start_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fidelity figures above come from the model's own history: the measured start state
    (an "explain the measurement" mode) is never consulted."""
    from jes_runner.sim import calibration

    def forbidden(*_: object) -> None:
        raise AssertionError("the replay read the measured start state")

    monkeypatch.setattr(calibration, "_measured_starting_nodes", forbidden)
    out = session_fidelity(replay(default_scenario()))
    assert out["concurrent_autoscaling"].emulated_makespan_s > 0


def test_the_autoscaling_phase_finds_both_nodes_from_the_history() -> None:
    """The measured autoscaling phase ran its first jobs on 00002q (warm) and 00002r (cold)
    without waiting; the model's history brings both, with no measured start state."""
    r = replay(default_scenario())["concurrent_autoscaling"]
    no_wait = {j.host for j in r.emulated if j.pending < 1}
    assert {h[-2:] for h in no_wait} == {"2q", "2r"}
