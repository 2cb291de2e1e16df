"""Shared fixtures: the embedded emulator (with scenario overrides) and a clean runner environment."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# the study fixtures (the real 54-job study as a results file, an in-process CLI) for the
# report, export, compare and sweep tests wherever they live
from support.study import artifacts, cli, study, write_json  # noqa: F401


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def scenario_with(**overrides: Any) -> Any:
    """The default scenario with nested overrides, e.g. scenario_with(auth={"access_token_lifetime_s": 2})."""
    from jes_runner.emulator import default_scenario
    from jes_runner.sim.scenario import parse_scenario

    base = default_scenario().model_dump(mode="json")
    return parse_scenario(deep_merge(base, overrides), "<test>")


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., Any]]:
    """Factory: ``make_emulator(speed_factor=0.002, ...)`` starts one; all are stopped at teardown."""
    from jes_runner.emulator import Emulator

    started: list[Any] = []

    def _make(**overrides: Any) -> Any:
        emu = Emulator(scenario=scenario_with(**overrides) if overrides else None, port=0)
        emu.__enter__()
        started.append(emu)
        return emu

    yield _make
    for emu in reversed(started):
        emu.__exit__(None, None, None)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    """One default-scenario emulator shared by the tests that do not change it."""
    from jes_runner.emulator import Emulator

    with Emulator(port=0) as emu:
        yield emu


@pytest.fixture
def runner_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No JES_* leaking in from the host, no secrets directory, a private results dir (returned)."""
    import os

    for k in list(os.environ):
        if k.startswith("JES_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("JES_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.chdir(tmp_path)  # no stray .env; results/ lands here
    out = tmp_path / "results"
    monkeypatch.setenv("JES_OUTPUT_DIR", str(out))
    return out


# ------------------------------------------------------------------ the fast selection
# `python3 -m pytest -m "not services"` runs without helm, podman, the kube control plane,
# Prometheus, the Pushgateway or Chromium; `-m "not services and not slow"` also leaves out
# the end-to-end runs of seconds (README, Development). Every test that needs a binary carries
# `@pytest.mark.services` (or a module-level `pytestmark`); the guard below fails a test
# that starts one of these binaries without the marker, so the selection cannot rot.

SERVICE_BINARIES = frozenset(
    {
        "helm",
        "helm3",
        "podman",
        "runc",
        "debootstrap",
        "build-image",  # .ci/build-image: podman underneath
        "kube-control-plane",  # .ci/kube-control-plane: etcd + kube-apiserver
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kubectl",
        "prometheus",
        "prometheus-pushgateway",
        "promtool",
        "chromium",
    }
)

_current_item: list[pytest.Item] = []


def _program(args: Any) -> str:
    first = args if isinstance(args, str | bytes | Path) else next(iter(args), "")
    if isinstance(first, bytes):
        first = first.decode(errors="replace")
    text = str(first)
    if isinstance(args, str):  # shell=True command line: its first word
        text = text.split()[0] if text.split() else ""
    return Path(text).name


def _install_service_guard() -> None:
    import subprocess

    original_init = subprocess.Popen.__init__

    def guarded_init(self: Any, args: Any, *a: Any, **kw: Any) -> None:
        program = _program(args)
        item = _current_item[-1] if _current_item else None
        if (
            program in SERVICE_BINARIES
            and item is not None
            and item.get_closest_marker("services") is None
        ):
            pytest.fail(
                f"{item.nodeid} starts {program!r} but is not marked "
                "@pytest.mark.services (see README, Contributing)",
                pytrace=False,
            )
        original_init(self, args, *a, **kw)

    subprocess.Popen.__init__ = guarded_init  # type: ignore[method-assign]


_install_service_guard()


def _guarded(item: pytest.Item) -> Iterator[None]:
    _current_item.append(item)
    try:
        yield
    finally:
        _current_item.pop()


# Setup and call only: a teardown may finalize a session fixture another (marked) test started,
# e.g. stopping the kube control plane after the last test of the run.
@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    yield from _guarded(item)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    yield from _guarded(item)
