"""Fixtures for the fault matrix: one real Pushgateway for the session, and the table at the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.servers import pushgateway

ROWS: list[Any] = []  # faultmatrix.Row, in run order


@pytest.fixture(scope="session")
def pushgateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's prometheus-pushgateway: every matrix run pushes here, its /metrics is scanned for secrets."""
    with pushgateway(tmp_path_factory.mktemp("pushgateway")) as pg:
        yield pg.url


@pytest.fixture
def matrix_rows() -> list[Any]:
    return ROWS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    from faultmatrix import table

    terminalreporter.section("fault matrix (tests/faults)")
    terminalreporter.write_line(table(ROWS))
