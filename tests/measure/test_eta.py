"""Time left in a phase: expected runtimes laid out as the mode releases jobs (hand-computed cases)."""

from __future__ import annotations

import pytest

from jes_runner.measure.eta import FlightAge, PhaseState, remaining_seconds
from jes_runner.measure.polling import RuntimeModel

# four queued jobs of 40, 10, 10, 10 expected seconds, nothing in flight, nothing learned (unit 1)
QUEUED = [40.0, 10.0, 10.0, 10.0]


@pytest.mark.parametrize(
    ("mode", "concurrency", "left"),
    [
        ("sequential", 1, 70.0),  # one after the other: the sum
        ("batch", 2, 50.0),  # waves (40, 10) then (10, 10): 40 + 10
        ("window", 2, 40.0),  # slot A runs the 40; slot B the three 10s (30) meanwhile
        ("all", 4, 40.0),  # all at once: the longest
    ],
)
def test_concurrent_modes_do_not_add_their_jobs_up(
    mode: str, concurrency: int, left: float
) -> None:
    state = PhaseState(mode, concurrency, in_flight=[], queued=list(QUEUED))
    assert remaining_seconds(state, RuntimeModel()) == pytest.approx(left)


def test_in_flight_jobs_count_what_is_left_of_them() -> None:
    # batch of 2: the current wave (20 s job 5 s old, 30 s job 25 s old) ends in 15 s; then (10, 10)
    state = PhaseState(
        "batch", 2, in_flight=[FlightAge(20.0, 5.0), FlightAge(30.0, 25.0)], queued=[10.0, 10.0]
    )
    assert remaining_seconds(state, RuntimeModel()) == pytest.approx(15.0 + 10.0)
    # a job past its expected end adds nothing more
    late = PhaseState("sequential", 1, in_flight=[FlightAge(20.0, 50.0)], queued=[])
    assert remaining_seconds(late, RuntimeModel()) == 0.0


def test_expected_seconds_become_served_seconds() -> None:
    # an emulator at speed factor 0.005: 5 jobs of 96 model s one after the other are 480 model s,
    # served in 2.4 s -- the "ETA 8m00s for a phase that takes 3 s"
    state = PhaseState("sequential", 1, in_flight=[], queued=[96.0] * 5)
    assert remaining_seconds(state, RuntimeModel(), served_per_expected=0.005) == pytest.approx(2.4)


def test_what_the_phase_learned_scales_the_estimates() -> None:
    model = RuntimeModel()
    model.observe(expected=10.0, observed=15.0)  # jobs run 1.5x their estimate here
    state = PhaseState("sequential", 1, in_flight=[], queued=[10.0, 20.0])
    # the learned factor replaces the unit conversion (it is served seconds per expected second)
    assert remaining_seconds(state, model, served_per_expected=0.005) == pytest.approx(45.0)


def test_no_estimate_is_unknown_until_a_job_of_the_phase_ended() -> None:
    state = PhaseState("sequential", 1, in_flight=[FlightAge(None, 1.0)], queued=[None, None])
    assert remaining_seconds(state, RuntimeModel()) is None
    model = RuntimeModel()
    model.observe(expected=None, observed=8.0)  # the typical job of this phase: 8 s
    assert remaining_seconds(state, model) == pytest.approx(7.0 + 8.0 + 8.0)
