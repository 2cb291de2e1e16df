"""The results file: created exclusively, never replaced (the checkpoint is ``checkpoint.py``)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from jes_runner._util import create_exclusive
from jes_runner.errors import ResultsWriteError

log = logging.getLogger("jes_runner.results.files")

RESULTS_PREFIX = "pooled_jobs_comparison_"


def results_filename(when: datetime) -> str:
    return f"{RESULTS_PREFIX}{when.strftime('%Y%m%d_%H%M%S')}.json"


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
