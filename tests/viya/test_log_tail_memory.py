"""A failed job's 400 MB log: the runner keeps its tail without ever holding the log (RSS < 200 MB)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from logserver import LAST, huge_log_server

ROOT = Path(__file__).resolve().parents[2]
LOG_MB = 400
RSS_LIMIT_MB = 200

# VmHWM (this process image's own peak), not getrusage's ru_maxrss: Linux carries ru_maxrss over
# fork + exec, so a probe started by a big pytest process would report the parent's size
PROBE = """
import json, sys
from jes_runner.viya import Credentials, ViyaClient
client = ViyaClient(sys.argv[1], Credentials(access_token="opaque-test-token"), timeout=120)
tail = client.get_log_tail({"logLocation": "/files/files/log-1"})
status = open("/proc/self/status").read().split("VmHWM:")[1]
peak_mb = int(status.split()[0]) / 1024
print(json.dumps({"peak_rss_mb": peak_mb, "tail_len": len(tail or ""), "tail_end": (tail or "")[-80:]}))
"""


def test_huge_log_tail_keeps_memory_bounded() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with huge_log_server(LOG_MB) as url:
        r = subprocess.run(
            [sys.executable, "-c", PROBE, url], env=env, capture_output=True, text=True, timeout=300
        )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["tail_end"].endswith(LAST.decode()), out
    assert 0 < out["tail_len"] <= 8192
    assert out["peak_rss_mb"] < RSS_LIMIT_MB, out
