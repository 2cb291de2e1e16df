"""Fixtures for the emulator tests: a started Emulator and an authenticated client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from emu_support import ViyaClient

from jes_runner.emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(speed_factor=0.002) as e:
        yield e


@pytest.fixture
def client(emu: Emulator) -> ViyaClient:
    return ViyaClient(emu)


@pytest.fixture
def make_emu() -> Iterator[Callable[..., Emulator]]:
    started: list[Emulator] = []

    def make(*args: Any, **kw: Any) -> Emulator:
        e = Emulator(*args, **kw).start()
        started.append(e)
        return e

    yield make
    for e in started:
        e.stop()
