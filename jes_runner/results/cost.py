"""What a phase cost: its node-seconds priced at the run's node-hour price (issue 24).

The one place a cost is computed: :func:`price_phases` gives each phase of a results
document a ``cost`` from ``scaling.node_seconds`` (the node timeline: every node of the
phase's pools, added -> removed, clipped to the phase window) and the run's own settings
(``node_hour_price``, ``currency``), so a run and ``recover`` price alike. Readers (metrics,
report, summary, export, trend) take ``phases[].cost`` as written.

An emulated run's node-seconds are served seconds; its cost is in the modelled cluster's
seconds (served / ``metadata.emulator_model.speed_factor``): what the modelled nodes would
have cost, never the laptop's seconds. ``basis`` says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jes_runner._util import finite

SECONDS_PER_HOUR = 3600.0
COST_DIGITS = 6  # a few node-seconds at a cent per hour must not round to 0


@dataclass(frozen=True)
class Price:
    """The run's node-hour price and its currency (``None`` price: the run is not priced)."""

    node_hour_price: float
    currency: str

    @classmethod
    def of_settings(cls, settings: dict[str, Any]) -> Price | None:
        """From a results file's ``metadata.settings`` (the run's own, masked settings)."""
        price = finite(settings.get("node_hour_price"))
        if price is None or price < 0:
            return None
        return cls(price, str(settings.get("currency") or ""))


@dataclass(frozen=True)
class Clock:
    """Whose seconds a document's figures are in: an emulated run's are served seconds, shown in
    the modelled cluster's (served / speed_factor); ``speed_factor`` None on an emulated run: the
    mapping is unknown (a recovered run), and so is any cost."""

    emulated: bool
    speed_factor: float | None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Clock:
        meta = doc.get("metadata") or {}
        emulated = bool(doc.get("emulator", meta.get("emulator")))
        sf = finite((meta.get("emulator_model") or {}).get("speed_factor"))
        return cls(emulated, sf if emulated and sf is not None and sf > 0 else None)


def phase_cost(phase: dict[str, Any], price: Price, clock: Clock) -> dict[str, Any]:
    """``cost`` of one phase; ``amount`` null (never 0) when its node-seconds are unknown."""
    sc = phase.get("scaling") or {}
    served = finite(sc.get("node_seconds"))
    source = sc.get("source") or "none"
    sf = clock.speed_factor
    if served is None:
        node_s = None
        basis = "no node-seconds (node timeline off or unavailable): cost unknown"
    elif clock.emulated and sf is None:
        node_s = None
        basis = "emulated run without its speed factor: model node-seconds, and cost, unknown"
    elif sf is not None:
        node_s = served / sf
        basis = (
            f"scaling.node_seconds ({source}) in the modelled cluster's seconds "
            f"(served {served:g} s / speed factor {sf:g}) / 3600 x node_hour_price"
        )
    else:
        node_s = served
        basis = f"scaling.node_seconds ({source}) / 3600 x node_hour_price"
    amount = None if node_s is None else node_s / SECONDS_PER_HOUR * price.node_hour_price
    return {
        "amount": None if amount is None else round(amount, COST_DIGITS),
        "currency": price.currency,
        "node_hour_price": price.node_hour_price,
        "node_seconds": None if node_s is None else round(node_s, 3),
        "basis": basis,
    }


def price_phases(doc: dict[str, Any]) -> None:
    """Give every phase of a results document its ``cost`` when the run had a node-hour price."""
    price = Price.of_settings((doc.get("metadata") or {}).get("settings") or {})
    if price is None:
        return
    clock = Clock.of(doc)
    for phase in doc.get("phases") or []:
        phase["cost"] = phase_cost(phase, price, clock)


def cost_currency(results: dict[str, Any]) -> str | None:
    """The currency to head a cost column with; None when no phase has a cost amount."""
    for p in results.get("phases") or []:
        cost = p.get("cost") or {}
        if finite(cost.get("amount")) is not None:
            return str(cost.get("currency") or "")
    return None


def fmt_cost(amount: Any) -> str:
    """A cost for a table: cents, or four decimals below 1 (a short emulated run costs little);
    ``-`` when unknown."""
    v = finite(amount)
    if v is None:
        return "-"
    return f"{v:.2f}" if v >= 1 else f"{v:.4f}"
