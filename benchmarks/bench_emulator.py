"""Benchmark the Viya emulator: sustained mixed load and the time to accept 1,000 jobs.

    python3 benchmarks/bench_emulator.py [--seconds 10] [--threads 4] [--in-process]

By default the emulator runs in its own process (``jes-runner emulator --port 0``)
so the client threads do not share its interpreter lock, as with a real client.
Mixed load per client thread, per round: POST a job, GET it, GET its state,
list jobs with ``in(id,...)`` over the thread's last 20 jobs, list the
orchestrator's newest 100 jobs (the calls a runner makes). Target: >= 200 req/s.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import requests

TARGET_RPS = 200


@contextlib.contextmanager
def emulator(in_process: bool) -> Iterator[tuple[str, str, str]]:
    if in_process:
        from jes_runner.emulator import Emulator

        with Emulator() as emu:
            yield emu.url, emu.username, emu.password
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "jes_runner", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        m = re.search(r"(http://\S+)", proc.stdout.readline())
        if not m:
            raise SystemExit("emulator did not start")
        yield m.group(1), "jes", "jes-demo-password"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


class Client:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        self.s = requests.Session()
        r = self.s.post(
            f"{url}/SASLogon/oauth/token",
            data={"grant_type": "password", "username": user, "password": password},
            auth=("sas.cli", ""),
            timeout=10,
        )
        r.raise_for_status()
        self.s.headers["Authorization"] = f"Bearer {r.json()['access_token']}"
        defs = self.s.get(
            f"{url}/jobDefinitions/definitions", params={"limit": "100"}, timeout=10
        ).json()
        self.defs = [d["id"] for d in defs["items"] if d["name"] != "failing_job"]

    def post_job(self, i: int) -> str:
        body = {
            "jobDefinitionUri": f"/jobDefinitions/definitions/{self.defs[i % len(self.defs)]}",
            "name": f"bench_{threading.get_ident()}_{i}",
            "arguments": {
                "_contextName": "Autoscaling POC Context"
                if i % 2
                else "SAS Job Execution compute context"
            },
        }
        r = self.s.post(f"{self.url}/jobExecution/jobs", json=body, timeout=30)
        r.raise_for_status()
        return r.json()["id"]


def mixed_load(url: str, user: str, password: str, seconds: float, threads: int) -> dict:
    lat: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    stop = time.monotonic() + seconds

    def worker() -> None:
        c = Client(url, user, password)
        mine: list[str] = []
        i = 0
        while time.monotonic() < stop:
            calls = [
                ("POST job", lambda i=i: mine.append(c.post_job(i))),
                (
                    "GET job",
                    lambda: c.s.get(
                        f"{url}/jobExecution/jobs/{mine[-1]}", timeout=30
                    ).raise_for_status(),
                ),
                (
                    "GET state",
                    lambda: c.s.get(
                        f"{url}/jobExecution/jobs/{mine[-1]}/state", timeout=30
                    ).raise_for_status(),
                ),
                (
                    "list jobs in(id)",
                    lambda: c.s.get(
                        f"{url}/jobExecution/jobs",
                        params={
                            "filter": "in(id," + ",".join(f'"{x}"' for x in mine[-20:]) + ")",
                            "limit": "20",
                        },
                        timeout=30,
                    ).raise_for_status(),
                ),
                (
                    "list orchestrator",
                    lambda: c.s.get(
                        f"{url}/workloadOrchestrator/jobs",
                        params={"limit": "100", "sortBy": "submitTime:descending"},
                        timeout=30,
                    ).raise_for_status(),
                ),
            ]
            for kind, call in calls:
                t0 = time.perf_counter()
                try:
                    call()
                except Exception as e:  # count, keep going
                    errors.append(f"{kind}: {e}")
                lat[kind].append(time.perf_counter() - t0)
            i += 1

    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(worker) for _ in range(threads)]:
            f.result()
    elapsed = time.monotonic() - t0
    total = sum(len(v) for v in lat.values())
    return {
        "elapsed": elapsed,
        "total": total,
        "rps": total / elapsed,
        "lat": lat,
        "errors": errors,
    }


def accept_thousand(url: str, user: str, password: str, threads: int = 8, n: int = 1000) -> float:
    clients = [Client(url, user, password) for _ in range(threads)]

    def run(k: int) -> None:
        for i in range(k, n, threads):
            clients[k].post_job(i)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(run, k) for k in range(threads)]:
            f.result()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="run the emulator in this process (shares the GIL)",
    )
    args = ap.parse_args()
    where = "in-process" if args.in_process else "separate process"
    with emulator(args.in_process) as (url, user, password):
        res = mixed_load(url, user, password, args.seconds, args.threads)
        print(
            f"mixed load ({args.threads} client threads, {res['elapsed']:.1f} s, emulator {where}):"
        )
        print(
            f"  sustained {res['rps']:.0f} requests/s ({res['total']} requests, {len(res['errors'])} errors)"
        )
        for kind, vals in sorted(res["lat"].items()):
            q = statistics.quantiles(vals, n=20) if len(vals) >= 20 else [max(vals)] * 19
            print(
                f"  {kind:<18} n={len(vals):<6} p50={statistics.median(vals) * 1000:6.1f} ms  p95={q[18] * 1000:6.1f} ms"
            )
        with emulator(args.in_process) as (url2, user2, password2):
            secs = accept_thousand(url2, user2, password2)
        print(
            f"accept 1,000 jobs (8 client threads, fresh emulator): {secs:.2f} s ({1000 / secs:.0f} jobs/s)"
        )
    ok = res["rps"] >= TARGET_RPS and not res["errors"]
    print(f"target >= {TARGET_RPS} req/s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
