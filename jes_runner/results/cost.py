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


def speed_factor(doc: dict[str, Any]) -> float | None:
    """Served seconds per model second of an emulated run; None for a real one."""
    meta = doc.get("metadata") or {}
    if not doc.get("emulator", meta.get("emulator")):
        return None
    sf = finite((meta.get("emulator_model") or {}).get("speed_factor"))
    return sf if sf is not None and sf > 0 else None


def phase_cost(phase: dict[str, Any], price: Price, sf: float | None) -> dict[str, Any]:
    """``cost`` of one phase; ``amount`` null (never 0) when its node-seconds are unknown."""
    sc = phase.get("scaling") or {}
    served = finite(sc.get("node_seconds"))
    source = sc.get("source") or "none"
    if served is None:
        node_s = None
        basis = "no node-seconds (node timeline off or unavailable): cost unknown"
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
    sf = speed_factor(doc)
    for phase in doc.get("phases") or []:
        phase["cost"] = phase_cost(phase, price, sf)


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
