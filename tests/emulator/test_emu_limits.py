"""The emulator's limits as a demo server: retention of ended jobs, the loopback warning, body caps."""

from __future__ import annotations

import logging
import socket

import pytest

from jes_runner.emulator import Emulator
from jes_runner.emulator.app import _loopback


def test_ended_jobs_past_the_retention_window_are_forgotten() -> None:
    with Emulator(port=0, speed_factor=0.001) as emu:
        with emu.lock:
            for i in range(5):
                emu.cluster.submit(
                    emu.cluster.now, f"j{i}", "SAS Job Execution compute context", None, "", {}
                )
            emu.cluster.advance(emu.cluster.now + 10_000)  # every job ends
            ended = [j.end_t for j in emu.cluster.job_list]
            assert all(t is not None for t in ended) and len(emu.cluster.jobs) == 5
            # a window longer than their age keeps them; a shorter one forgets them
            assert emu.evict(emu.cluster.now) == 0
            emu.scenario = emu.scenario.model_copy(update={"job_retention_s": 0.001})
            assert emu.evict(emu.cluster.now) == 5
            assert (
                emu.cluster.jobs == {}
                and emu.cluster.job_list == []
                and emu.cluster.by_orch_id == {}
            )
        assert emu.ground_truth()["jobs"] == []


def test_running_jobs_are_never_evicted() -> None:
    with Emulator(port=0) as emu, emu.lock:
        emu.cluster.submit(
            emu.cluster.now, "long", "SAS Job Execution compute context", None, "", {}
        )
        emu.scenario = emu.scenario.model_copy(update={"job_retention_s": 0.001})
        assert emu.evict(emu.cluster.now + 1e9) == 0 and len(emu.cluster.jobs) == 1


def test_binding_beyond_loopback_warns(caplog: pytest.LogCaptureFixture) -> None:
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("localhost")
    assert not _loopback("0.0.0.0") and not _loopback("10.1.2.3") and not _loopback("")
    with (
        caplog.at_level(logging.WARNING, logger="jes_runner.emulator"),
        Emulator(host="0.0.0.0", port=0),
    ):
        pass
    assert "beyond loopback" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jes_runner.emulator"), Emulator(port=0):
        pass
    assert "beyond loopback" not in caplog.text


@pytest.mark.parametrize(
    ("length", "status"), [("1000000000", b" 413 "), ("-5", b" 400 "), ("1e9", b" 400 ")]
)
def test_bad_or_huge_content_length_is_answered(length: str, status: bytes) -> None:
    with (
        Emulator(port=0) as emu,
        socket.create_connection(("127.0.0.1", emu.port), timeout=10) as s,
    ):
        s.sendall(
            f"POST /jobExecution/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        answer = b""
        # the emulator closes the connection after answering (timeout: 10 s)
        while chunk := s.recv(65536):
            answer += chunk
        assert status in answer.split(b"\r\n", 1)[0]
