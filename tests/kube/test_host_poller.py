"""The orchestrator-hosts fallback looks when it can change the answer: at the phase's start and
end, and when a job is pending (rate-limited) -- not on a clock."""

from __future__ import annotations

import threading
import time
from typing import Any

from jes_runner.kube.nodes import HostPoller


class Hosts:
    def __init__(self) -> None:
        self.calls = 0
        self.hosts = [{"name": "aks-computetmp-28320745-vmss000001", "state": "READY"}]
        self.called = threading.Event()

    def __call__(self) -> list[dict[str, Any]]:
        self.calls += 1
        self.called.set()
        return list(self.hosts)


def test_no_look_without_a_reason_then_one_per_poke_window() -> None:
    fetch = Hosts()
    # a clock would never fire within the test
    poller = HostPoller(fetch, interval_s=3600.0).start()
    assert fetch.calls == 1  # the phase's start
    time.sleep(0.3)
    assert fetch.calls == 1  # nothing pending: no request
    fetch.called.clear()
    fetch.hosts.append({"name": "aks-computetmp-28320745-vmss000002", "state": "READY"})
    poller.poke()  # a job is pending
    assert fetch.called.wait(30)
    for _ in range(20):  # more pokes within the interval: no more requests
        poller.poke()
    time.sleep(0.3)
    assert fetch.calls == 2
    obs = poller.stop()  # the phase's end: one last look
    assert fetch.calls == 3
    assert [e.node for e in obs.events if e.event == "added"] == [
        "aks-computetmp-28320745-vmss000002"
    ]
