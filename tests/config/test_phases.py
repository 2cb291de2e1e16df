"""config/phases.py: phase names become unique file-safe slugs."""

from __future__ import annotations

import pytest

from jes_runner.config.phases import parse_phases, slug
from jes_runner.errors import ConfigError


def test_phase_names_sanitised_and_unique() -> None:
    assert slug("All at once (autoscaling)!") == "all_at_once_autoscaling"
    with pytest.raises(ConfigError):
        parse_phases([{"name": "A b", "context": "x"}, {"name": "a-b", "context": "y"}])
