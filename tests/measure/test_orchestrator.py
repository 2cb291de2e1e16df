"""measure/orchestrator.py: `recent_jobs` lists the newest orchestrator jobs, filtered by a job-name
prefix in either spelling, reading no more pages than it needs and never more than ``scan`` items."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jes_runner.measure.orchestrator import recent_jobs


class FakeOrchestrator:
    """Newest-first pages of the given size; remembers the page size asked for and pages read."""

    def __init__(self, names: list[str], page_size: int = 3) -> None:
        self.items = [
            {
                "id": f"o{i}",
                "request": {"name": name, "user": f"user{i}", "queue": "default"},
                "processingInfo": {"state": "DONE", "executionHost": f"host{i % 2}"},
            }
            for i, name in enumerate(names)
        ]
        self.page_size = page_size
        self.limits: list[int] = []
        self.pages_read = 0

    def orchestrator_pages(self, limit: int = 500) -> Iterator[list[Any]]:
        self.limits.append(limit)
        for start in range(0, len(self.items), self.page_size):
            self.pages_read += 1
            yield self.items[start : start + self.page_size]


def _ids(jobs: list[dict[str, Any]]) -> list[str]:
    return [j["orchestrator_job_id"] for j in jobs]


def test_newest_first_up_to_last_and_flattened() -> None:
    fake = FakeOrchestrator([f"job{i}-8c1e3d4f" for i in range(10)])
    jobs = recent_jobs(fake, last=4)  # type: ignore[arg-type]
    assert _ids(jobs) == ["o0", "o1", "o2", "o3"]
    first = jobs[0]
    assert first["orchestrator_name"] == "job0-8c1e3d4f" and first["user"] == "user0"
    assert first["execution_host"] == "host0" and first["state"] == "DONE"
    assert fake.pages_read == 2  # 4 of 3-item pages: the third page is never fetched


def test_prefix_matches_the_job_name_and_its_orchestrator_spelling() -> None:
    names = [
        "cmpooledasync11700000000-8c1e3d4f",  # how Viya names it: lower case, no underscores
        "other_job-1",
        "CM_POOLED_async_2_1700000000-aa",  # the job name itself, any case
        "cmpooled",
        "cm_pooledx",
        "xcm_pooled",  # contains the prefix but does not start with it
    ]
    fake = FakeOrchestrator(names)
    jobs = recent_jobs(fake, last=10, prefix="cm_pooled")  # type: ignore[arg-type]
    assert _ids(jobs) == ["o0", "o2", "o3", "o4"]
    assert fake.limits == [500]  # a filtered listing reads full pages


def test_page_size_follows_last_without_a_prefix() -> None:
    for last, expected in ((1, 50), (120, 120), (10_000, 500)):
        fake = FakeOrchestrator(["a"])
        recent_jobs(fake, last=last)  # type: ignore[arg-type]
        assert fake.limits == [expected], last


def test_scan_bounds_the_items_read_when_few_match() -> None:
    fake = FakeOrchestrator(["x"] * 20 + ["wanted"], page_size=5)
    assert recent_jobs(fake, last=1, prefix="wanted", scan=10) == []  # type: ignore[arg-type]
    assert fake.pages_read == 2  # stopped at the 10th item
    found = recent_jobs(FakeOrchestrator(["x"] * 20 + ["wanted"]), last=1, prefix="wanted")  # type: ignore[arg-type]
    assert _ids(found) == ["o20"]


def test_items_that_are_not_objects_are_skipped() -> None:
    fake = FakeOrchestrator(["a", "b"])
    fake.items.insert(1, "garbage")  # type: ignore[arg-type]
    fake.items.append(None)  # type: ignore[arg-type]
    assert _ids(recent_jobs(fake, last=10)) == ["o0", "o1"]  # type: ignore[arg-type]
