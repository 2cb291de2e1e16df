"""Fixtures: real Pushgateway / Prometheus servers (tests/support/servers.py) for the metrics tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from metrics_helpers import PROFILE, Stack, start_stack
from support.servers import Server, pushgateway


@pytest.fixture
def pushgateway_server(tmp_path: Path) -> Iterator[Server]:
    """A fresh Pushgateway on a free loopback port."""
    with pushgateway(tmp_path / "pushgateway") as pg:
        yield pg


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Factory: ``make_stack(schedule_seconds=2, multiple=2)``; everything stops at teardown."""
    with ExitStack() as es:
        n = iter(range(100))
        yield lambda **params: start_stack(es, tmp_path / f"stack{next(n)}", **params)


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One stack (default rule parameters) shared by a module's tests."""
    with ExitStack() as es:
        yield start_stack(es, tmp_path_factory.mktemp("stack"), profile=PROFILE)
