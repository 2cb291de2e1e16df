"""Retry policy: exponential backoff with full jitter, honouring Retry-After."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from time import time

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4  # retries after the first attempt
    backoff_s: float = 0.5  # first delay; doubles each retry
    backoff_max_s: float = 20.0
    retry_after_max_s: float = 120.0  # never sleep longer than this on a server's say-so
    # overall budget of one logical request, all retries and waits included
    deadline_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry: int, retry_after: str | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        hinted = parse_retry_after(retry_after)
        if hinted is not None:
            return min(hinted, self.retry_after_max_s)
        cap: float = min(self.backoff_max_s, self.backoff_s * (2 ** (retry - 1)))
        # "equal jitter": keep half the step so retries never collapse to zero wait
        return cap / 2 + float(self.rng.uniform(0, cap / 2))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError, IndexError):
        return None
