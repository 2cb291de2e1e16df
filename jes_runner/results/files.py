"""The results file (atomic write) and the per-run checkpoint (JSON lines).

The checkpoint gets each job as it finishes, flushed at once, so a crash loses
nothing already measured; it is fsynced at most once a second (and on close)
because an fsync per job would cost more than the measurement at 10,000 jobs.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from jes_runner._util import create_exclusive
from jes_runner.errors import ResultsWriteError

log = logging.getLogger("jes_runner.results.files")

RESULTS_PREFIX = "pooled_jobs_comparison_"


def results_filename(when: datetime) -> str:
    return f"{RESULTS_PREFIX}{when.strftime('%Y%m%d_%H%M%S')}.json"


class Checkpoint:
    """Append-only JSON lines at `<output_dir>/<run_id>.checkpoint.jsonl`; never raises."""

    def __init__(self, output_dir: Path, run_id: str) -> None:
        self.path = Path(output_dir) / f"{run_id}.checkpoint.jsonl"
        self.error: str | None = None
        self._fh: IO[str] | None = None
        self._last_sync = 0.0
        self.lines = 0

    def open(self) -> bool:
        """Create the file exclusively: a run id is a UUID, so an existing file is another process's."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "x", encoding="utf-8")  # noqa: SIM115 - lives for the whole run
        except OSError as e:
            self.error = f"cannot write checkpoint {self.path}: {e.strerror or e}"
            return False
        return True

    def append(self, entry: dict[str, Any]) -> None:
        if self._fh is None:
            return
        try:
            self._fh.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self._fh.flush()
            self.lines += 1
            now = time.monotonic()
            if now - self._last_sync >= 1.0:
                os.fsync(self._fh.fileno())
                self._last_sync = now
        except OSError as e:
            self.error = f"checkpoint {self.path} stopped: {e.strerror or e}"
            log.warning("%s; figures continue on stdout", self.error)
            self._close_quietly()

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as e:
            self.error = f"checkpoint {self.path}: {e.strerror or e}"
        self._close_quietly()

    def _close_quietly(self) -> None:
        try:
            if self._fh:
                self._fh.close()
        except OSError:
            pass
        self._fh = None


def results_candidates(output_dir: Path, when: datetime, run_id: str) -> list[Path]:
    """The seed's name first; then the run id's first 8 characters, then a counter (the same run
    written twice, e.g. by ``recover``): two runs ending in the same second both keep their file."""
    path = Path(output_dir) / results_filename(when)
    tagged = path.with_name(f"{path.stem}_{run_id[:8]}")
    return [
        path,
        tagged.with_suffix(".json"),
        *(tagged.with_name(f"{tagged.name}_{i}.json") for i in range(2, 100)),
    ]


def write_results(output_dir: Path, results: dict[str, Any], when: datetime) -> Path:
    """Create the results file exclusively (never replaces one; see ``create_exclusive``)."""
    path = Path(output_dir) / results_filename(when)
    try:
        path = create_exclusive(
            results_candidates(output_dir, when, str(results["run_id"])),
            lambda fh: _dump(results, fh),
        )
    except OSError as e:
        raise ResultsWriteError(
            f"cannot write results file {path}: {e.strerror or e} -- the figures are on stdout"
            " and in the checkpoint, if it could be written"
        ) from None
    return path


def _dump(doc: dict[str, Any], fh: IO[str]) -> None:
    json.dump(doc, fh, indent=2)
    fh.write("\n")
