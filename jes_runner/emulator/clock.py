"""Model time <-> real wall clock.

Model second ``t`` happens at real epoch ``origin + t * scale``; ``scale`` is the
scenario's speed_factor. Served timestamps are these real UTC instants with
milliseconds (real Viya's orchestrator gives whole seconds; the emulator keeps
milliseconds because time is scaled down, so whole seconds would erase it).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def iso_ms(epoch: float) -> str:
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def http_date(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


class Timeline:
    def __init__(self, scale: float, origin: float | None = None) -> None:
        self.scale = scale
        self.origin = time.time() if origin is None else origin

    def model_now(self) -> float:
        return (time.time() - self.origin) / self.scale

    def epoch(self, t: float) -> float:
        return self.origin + t * self.scale

    def iso(self, t: float | None) -> str | None:
        return None if t is None else iso_ms(self.epoch(t))

    def real_seconds(self, model_seconds: float) -> float:
        return round(model_seconds * self.scale, 3)
