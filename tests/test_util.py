"""_util's figures: percentiles and medians checked against the standard library, timestamps."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from jes_runner._util import WEEK_S, epoch_seconds, iso, median, parse_ts, percentile

values = st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=50)


@given(values, st.integers(1, 99))
def test_percentile_is_the_inclusive_quantile(xs: list[float], p: int) -> None:
    expected = statistics.quantiles(xs, n=100, method="inclusive")[p - 1]
    assert abs(percentile(xs, p) - expected) <= 0.0005 + 1e-9 * abs(expected)  # type: ignore[operator]


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_median_is_the_statistics_median(xs: list[float]) -> None:
    assert median(xs) == statistics.median(xs)


def test_percentile_of_nothing_is_unknown() -> None:
    assert percentile([], 50) is None


def test_epoch_seconds_reads_z_offsets_and_naive_as_utc() -> None:
    t = datetime(2025, 9, 15, 19, 42, 30, tzinfo=UTC).timestamp()
    assert epoch_seconds("2025-09-15T19:42:30Z") == t
    assert epoch_seconds("2025-09-15T21:42:30+02:00") == t
    assert epoch_seconds("2025-09-15T19:42:30") == t
    assert epoch_seconds("not a time") is None and epoch_seconds(None) is None


def test_the_week_limit_is_seven_days() -> None:
    assert WEEK_S == 7 * 24 * 3600


def test_timestamps_round_trip() -> None:
    dt = parse_ts("2025-09-15T19:42:30.279Z")
    assert dt is not None and iso(dt) == "2025-09-15T19:42:30.279Z"
    assert parse_ts("garbage") is None


def test_aks_node_names_parse_into_pool_scale_set_and_index() -> None:
    from jes_runner._util import AksNodeName, parse_aks_node_name

    # the measured cluster's nodes (docs/CALIBRATION.md): index 00002q = 2 * 36 + 26 = 98
    assert parse_aks_node_name("aks-computetmp-28320745-vmss00002q") == AksNodeName(
        "computetmp", "28320745", 98
    )
    assert parse_aks_node_name("aks-compute-36279683-vmss000001") == AksNodeName(
        "compute", "36279683", 1
    )
    for other in ("aks-nodepool1-12345678-0", "aks-compute-36279683-vmss01", "node-1", "", None):
        assert parse_aks_node_name(other) is None
