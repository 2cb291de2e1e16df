"""Recent Workload Orchestrator jobs, flattened for listing (`jes-runner orchestrator`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jes_runner.measure.correlation import orchestrator_data, orchestrator_key
from jes_runner.viya import ViyaClient


def recent_jobs(
    client: ViyaClient, last: int, prefix: str | None = None, scan: int = 5000
) -> list[dict[str, Any]]:
    """Up to ``last`` orchestrator jobs (flattened like a JobRecord's orchestrator_data), newest first."""
    wanted = [p for p in {prefix.lower(), orchestrator_key(prefix)} if p] if prefix else []
    page_limit = min(500, max(last, 50)) if not wanted else 500
    out: list[dict[str, Any]] = []
    for seen, item in enumerate(_items(client, page_limit), 1):
        name = str((item.get("request") or {}).get("name") or "").lower()
        if not wanted or any(name.startswith(w) for w in wanted):
            d = orchestrator_data(item)
            d["user"] = (item.get("request") or {}).get("user")
            out.append(d)
        if len(out) >= last or seen >= scan:
            break
    return out


def _items(client: ViyaClient, page_limit: int) -> Iterator[dict[str, Any]]:
    for page in client.orchestrator_pages(page_limit):
        yield from (i for i in page if isinstance(i, dict))
