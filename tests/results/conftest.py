"""Fixtures for the results readers: the original tool's files and a real Pushgateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import Server, pushgateway

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def pushgateway_server(tmp_path: Path) -> Iterator[Server]:
    with pushgateway(tmp_path / "pushgateway") as pg:
        yield pg
