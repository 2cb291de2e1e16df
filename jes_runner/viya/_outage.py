"""How long Viya answered with errors: the time the runner could not see its jobs.

A span opens at the first failed exchange (connection error, 429/5xx, an answer that is not
JSON) and closes at the next good answer; retries inside one logical request count, so a
blip the retry policy rode out is still seen. A phase's share of it judges its figures
(``measure/stats.py``: ``max_outage_share``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class OutageClock:
    """Seconds of API errors so far (closed spans + the open one up to now)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._closed = 0.0
        self._since: float | None = None

    def failed(self) -> None:
        with self._lock:
            if self._since is None:
                self._since = self._clock()

    def answered(self) -> None:
        with self._lock:
            if self._since is not None:
                self._closed += self._clock() - self._since
                self._since = None

    @property
    def seconds(self) -> float:
        with self._lock:
            open_s = self._clock() - self._since if self._since is not None else 0.0
            return self._closed + open_s
