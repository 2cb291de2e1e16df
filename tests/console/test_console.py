"""console's human durations: the one place a number of seconds becomes text."""

from __future__ import annotations

import pytest

from jes_runner.console import fmt_duration, fmt_seconds


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0, "0.0 s"),
        (0.25, "0.250 s"),
        (42.14, "42.1 s"),
        (906, "15.1 min"),
        (8280, "2.30 h"),
        (3 * 86400 + 43200, "3.5 d"),
        (-906, "-15.1 min"),
    ],
)
def test_fmt_seconds_picks_the_unit(seconds: float | None, text: str) -> None:
    assert fmt_seconds(seconds) == text


@pytest.mark.parametrize(
    ("seconds", "text"), [(5.21, "5.2s"), (184, "3m04s"), (3720, "1h02m"), (-3, "0.0s")]
)
def test_fmt_duration_for_elapsed_times_and_etas(seconds: float, text: str) -> None:
    assert fmt_duration(seconds) == text


def test_auth_describes_token_lifetimes_with_the_same_format() -> None:
    from jes_runner.cli.commands.auth import _when

    now = 1_700_000_000.0
    assert _when(now + 906, now).endswith("(in 15.1 min)")
    assert _when(now - 3 * 86400, now).endswith("(expired 3.0 d ago)")
