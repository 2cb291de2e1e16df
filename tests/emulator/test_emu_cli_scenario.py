"""`jes-runner emulator` in a subprocess, and scenario file validation."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from jes_runner.emulator import Emulator, default_scenario, load_scenario
from jes_runner.errors import ConfigError


def cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jes_runner", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serves_and_stops_cleanly(sig: signal.Signals) -> None:
    proc = cli("--port", "0", "--user", "alice", "--password", "s3cret", "--speed-factor", "0.01")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+) \(user alice", line)
        assert m, line
        url = m.group(1)
        assert requests.get(f"{url}/emulator/health", timeout=5).json()["status"] == "ok"
        r = requests.post(
            f"{url}/SASLogon/oauth/token",
            data={"grant_type": "password", "username": "alice", "password": "s3cret"},
            auth=("sas.cli", ""),
            timeout=5,
        )
        assert r.status_code == 200
        assert requests.get(f"{url}/emulator/scenario", timeout=5).json()["speed_factor"] == 0.01
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()


def run_cli(*args: str) -> tuple[int, str]:
    proc = cli(*args)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "pools:\n  p: {min_nodes: 1, max_nodes: 1, slots_per_node: zero}\nqueues: {q: {pools: [p]}}\ncontexts: [{name: c, queue: q}]\n"
    )
    rc, err = run_cli("--port", "0", "--scenario", str(bad))
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {bad}: pools.p.slots_per_node:")
    rc, err = run_cli("--port", "0", "--scenario", str(tmp_path / "missing.yaml"))
    assert rc == 2 and "missing.yaml" in err and err.count("\n") == 1
    with Emulator() as emu:
        rc, err = run_cli("--port", str(emu.port))
        assert rc == 2 and "already in use" in err and "--port" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (
            {
                "pools": {},
                "queues": {"q": {"pools": ["nope"]}},
                "contexts": [{"name": "c", "queue": "q"}],
            },
            "queues.q.pools: unknown pool 'nope'",
        ),
        (
            {
                "pools": {"p": {}},
                "queues": {"q": {"pools": ["p"]}},
                "contexts": [{"name": "c", "queue": "x"}],
            },
            "contexts.0.queue: unknown queue 'x'",
        ),
        (
            {
                "pools": {"p": {"min_nodes": 3, "max_nodes": 2}},
                "queues": {"q": {"pools": ["p"]}},
                "contexts": [{"name": "c", "queue": "q"}],
            },
            "pools.p: min_nodes (3) exceeds max_nodes (2)",
        ),
        (
            {
                "pools": {"p": {}},
                "queues": {"q": {"pools": ["p"]}},
                "contexts": [{"name": "c", "queue": "q"}],
                "speed_factor": 0,
            },
            "speed_factor: Input should be greater than 0",
        ),
        (
            {
                "pools": {"p": {}},
                "queues": {"q": {"pools": ["p"]}},
                "contexts": [{"name": "c", "queue": "q"}],
                "faults": {"rules": [{"reset_rate": 3}]},
            },
            "faults.rules.0.reset_rate",
        ),
        (
            {
                "pools": {"p": {}},
                "queues": {"q": {"pools": ["p"]}},
                "contexts": [{"name": "c", "queue": "q"}],
                "colour": "blue",
            },
            "colour: Extra inputs are not permitted",
        ),
        (
            {
                "pools": {"p": {}},
                "queues": {"q": {"pools": ["p"]}},
                "contexts": [{"name": "c", "queue": "q"}],
                "profile": "nofile.json",
            },
            "profile: cannot read",
        ),
    ],
)
def test_scenario_errors_name_file_and_field(tmp_path: Path, data: dict, fragment: str) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    msg = str(info.value)
    assert msg.startswith(str(path)) and fragment in msg and "\n" not in msg


def test_scenario_yaml_and_json_agree(tmp_path: Path) -> None:
    import yaml

    sc = default_scenario()
    data = sc.model_dump(mode="json")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "s.json").write_text(json.dumps(data))
    a, b = load_scenario(tmp_path / "s.yaml"), load_scenario(tmp_path / "s.json")
    assert a.model_dump() == b.model_dump() == sc.model_dump()
    assert len(a.profiles()) == 54 and a.profiles()["ae_pooled"].elapsed_s == 149.761
    bad = tmp_path / "broken.yaml"
    bad.write_text("pools: [\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_scenario(bad)


def test_default_scenario_mirrors_the_cluster() -> None:
    sc = default_scenario()
    ctx = {c.name: c.queue for c in sc.contexts}
    assert ctx == {
        "SAS Job Execution compute context": "default",
        "SAS Studio compute context": "default",
        "Autoscaling POC Context": "autoscaling-poc-queue",
    }
    assert sc.pools["compute"].min_nodes == sc.pools["compute"].max_nodes == 1
    assert sc.pools["computetmp"].max_nodes > sc.pools["computetmp"].min_nodes
    assert sc.queues["autoscaling-poc-queue"].pools == ["computetmp"]
    assert sc.speed_factor == 0.005 and not sc.faults.rules and sc.faults.job_failure_rate == 0
    # the demo workload (54 jobs, ~47 model minutes sequentially) takes seconds
    assert sum(p.elapsed_s for p in sc.profiles().values()) * sc.speed_factor < 15
