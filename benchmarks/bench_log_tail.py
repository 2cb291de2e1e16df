"""Memory of reading a failed job's log tail: peak RSS of a fresh process whose ViyaClient reads
the tail of an N-MB log from a loopback server that ignores Range (the worst case).

    python3 benchmarks/bench_log_tail.py [SIZE_MB ...]     (default: 100 400)

Issue 20's figure: main read a 400 MB log whole (857 MB RSS); the target is under 200 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "viya"))

from logserver import huge_log_server  # noqa: E402

PROBE = """
import json, resource, sys
from jes_runner.viya import Credentials, ViyaClient
client = ViyaClient(sys.argv[1], Credentials(access_token="opaque-bench-token"), timeout=300)
tail = client.get_log_tail({"logLocation": "/files/files/log-1"})
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tail_bytes": len((tail or "").encode())}))
"""


def measure(size_mb: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with huge_log_server(size_mb) as url:
        t0 = time.monotonic()
        r = subprocess.run(
            [sys.executable, "-c", PROBE, url], env=env, capture_output=True, text=True
        )
        seconds = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    return {**json.loads(r.stdout), "seconds": seconds}


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 400]
    print(f"{'log MB':>7}  {'peak RSS MB':>11}  {'tail bytes':>10}  {'seconds':>7}")
    for size in sizes:
        m = measure(size)
        print(f"{size:>7}  {m['peak_rss_mb']:>11.1f}  {m['tail_bytes']:>10}  {m['seconds']:>7.2f}")


if __name__ == "__main__":
    main()
