"""measure/polling.py: the runtime model learns the server's speed from finished jobs."""

from __future__ import annotations

import pytest

from jes_runner.measure.polling import RuntimeModel


def test_runtime_model_learns_the_speed() -> None:
    m = RuntimeModel()
    assert m.estimate(50) is None
    for exp in (50, 100, 20):
        m.observe(exp, exp * 0.005)
    assert m.estimate(200) == pytest.approx(1.0)
    assert RuntimeModel(prior_factor=0.01).estimate(10) == pytest.approx(0.1)
