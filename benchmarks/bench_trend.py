"""`jes-runner trend` over a results volume of 2,000 nightly files: target under 5 s.

    python benchmarks/bench_trend.py                 # 2,000 files of 54 jobs x 2 phases
    python benchmarks/bench_trend.py --files 500 --jobs 12

The files are real results files: 40 distinct nights (jobs' timings -> the project's own
document builder -> the runner's writer, tests/support/trend_runs.py), copied to 2,000
files with their own run id and start time over two environments and two profiles (a
tenth emulated). Timed: the whole command in a fresh interpreter (`jes-runner trend DIR
--out HTML`: imports, reading, series, verdicts, trend.html), the files in the page cache
as on a volume read every night. For scale, the same files read whole (``json.loads``)
on a sample. Exit status 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE.parent / "tests")]

from support.trend_runs import NIGHT0, Night, night_document  # noqa: E402  (tests/support)

TARGET_S = 5.0
DISTINCT = 40  # distinct nights; the rest are copies with their own identity
LABELS = [("prod", "nightly"), ("prod", "weekly"), ("test", "nightly"), ("test", "weekly")]


def generate(root: Path, files: int, jobs: int) -> int:
    """Write ``files`` results files under ``root``; return their total size in bytes."""
    texts = []
    for i in range(DISTINCT):
        doc = night_document(
            Night(started=NIGHT0, jobs=jobs, concurrency=5, seed=i, emulated=i % 10 == 9)
        )
        texts.append(json.dumps(doc, indent=2) + "\n")  # the runner's layout (results/files.py)
    total = 0
    for k in range(files):
        env, profile = LABELS[k % len(LABELS)]
        started = NIGHT0 + timedelta(days=k // len(LABELS), minutes=k % len(LABELS))
        stamp = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        doc = json.loads(texts[k % DISTINCT])
        doc["run_id"] = f"bench-{k:05d}"
        doc["metadata"]["started_at"] = stamp
        doc["metadata"]["labels"].update(environment=env, profile=profile)
        text = json.dumps(doc, indent=2) + "\n"
        d = root / env / profile
        d.mkdir(parents=True, exist_ok=True)
        (d / f"pooled_jobs_comparison_{started:%Y%m%d_%H%M%S}.json").write_text(text)
        total += len(text)
    return total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--jobs", type=int, default=54, help="jobs per phase (default 54)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="jes-bench-trend-") as tmp:
        root = Path(tmp) / "results"
        t0 = time.perf_counter()
        size = generate(root, args.files, args.jobs)
        print(
            f"generated {args.files} results files ({size / args.files / 1024:.0f} KiB each, "
            f"{size / 2**20:.0f} MiB) in {time.perf_counter() - t0:.1f} s"
        )
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        cmd = [
            sys.executable,
            "-m",
            "jes_runner",
            "trend",
            str(root),
            "--out",
            str(Path(tmp) / "html"),
        ]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        elapsed = time.perf_counter() - t0
        if r.returncode not in (0, 6):
            print(r.stdout[-2000:], r.stderr[-2000:])
            return 1
        head = next(line for line in r.stdout.splitlines() if "run(s)" in line)
        print(f"`jes-runner trend DIR --out HTML`: {elapsed:.2f} s ({head})")
        print(
            f"  {elapsed / args.files * 1000:.2f} ms per file; target {TARGET_S:g} s for 2,000 files"
        )
        html_kib = (Path(tmp) / "html" / "trend.html").stat().st_size / 1024
        print(f"  trend.html: {html_kib:.0f} KiB")

        sample = sorted(root.rglob("*.json"))[:100]
        t0 = time.perf_counter()
        for p in sample:
            json.loads(p.read_bytes())
        whole = (time.perf_counter() - t0) / len(sample)
        print(
            f"for scale: json.loads of the whole file {whole * 1000:.2f} ms per file "
            f"({whole * args.files:.1f} s for {args.files})"
        )
    ok = args.files < 2000 or elapsed < TARGET_S
    print("PASS" if ok else "FAIL", f"({args.files} files in {elapsed:.2f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
