"""The SAS collection envelope (``application/vnd.sas.collection+json``): query, sort, page, links."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from jes_runner.emulator.filters import FilterError, Resolver, compile_filter

COLLECTION_TYPE = "application/vnd.sas.collection"
DEFAULT_LIMIT = 10  # SAS services' usual default page size


class QueryError(ValueError):
    """A bad start/limit/filter/sortBy value (the API answers 400)."""


def link(
    rel: str, href: str, method: str = "GET", type_: str | None = None, item_type: str | None = None
) -> dict[str, str]:
    out = {"method": method, "rel": rel, "href": href, "uri": href}
    if type_:
        out["type"] = type_
    if item_type:
        out["itemType"] = item_type
    return out


def _int(query: dict[str, str], key: str, default: int, minimum: int) -> int:
    raw = query.get(key)
    if raw is None or raw == "":
        return default
    try:
        val = int(raw)
    except ValueError:
        raise QueryError(f"The value '{raw}' of the '{key}' parameter is not an integer.") from None
    if val < minimum:
        raise QueryError(f"The '{key}' parameter must be {minimum} or more.")
    return val


def _sort_key(value: Any) -> tuple[int, Any]:
    # None sorts first ascending; mixed types never compare directly.
    if value is None:
        return (0, 0)
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value))


def _keyfunc(resolver: Callable[[Any], Resolver], fld: str) -> Callable[[Any], tuple[int, Any]]:
    def key(row: Any) -> tuple[int, Any]:
        return _sort_key(resolver(row)(fld))

    return key


def select(
    items: Sequence[Any],
    query: dict[str, str],
    resolver: Callable[[Any], Resolver],
    default_sort: str | None = None,
) -> tuple[list[Any], int, int, int]:
    """Filter, sort and page ``items``: returns (page, start, limit, count)."""
    start = _int(query, "start", 0, 0)
    limit = _int(query, "limit", DEFAULT_LIMIT, 0)
    rows = list(items)
    ftext = query.get("filter")
    if ftext:
        try:
            pred = compile_filter(ftext)
        except FilterError as e:
            raise QueryError(f"The filter '{ftext}' is not valid: {e}.") from None
        rows = [r for r in rows if pred(resolver(r))]
    sort_by = query.get("sortBy") or default_sort
    if sort_by:
        keys = []
        for part in sort_by.split(","):
            fld, _, direction = part.strip().partition(":")
            direction = direction.lower() or "ascending"
            if not fld or direction not in ("ascending", "descending"):
                raise QueryError(
                    f"The sortBy value '{sort_by}' is not valid (use field:ascending or field:descending)."
                )
            keys.append((fld, direction == "descending"))
        for fld, desc in reversed(keys):  # stable multi-key sort
            rows.sort(key=_keyfunc(resolver, fld), reverse=desc)
    return rows[start : start + limit], start, limit, len(rows)


def envelope(
    name: str,
    items: list[Any],
    start: int,
    limit: int,
    count: int,
    path: str,
    query: dict[str, str],
    item_type: str,
    extra_links: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The collection document with first/prev/next/last links preserving the query."""

    def href(s: int) -> str:
        q = {k: v for k, v in query.items() if k not in ("start", "limit")}
        q.update({"start": str(s), "limit": str(limit)})
        return f"{path}?{urlencode(q)}"

    ctype = f"{COLLECTION_TYPE}+json"
    links = [
        link("self", href(start), type_=ctype, item_type=item_type),
        link("collection", path, type_=ctype, item_type=item_type),
    ]
    if limit > 0:
        links.append(link("first", href(0), type_=ctype, item_type=item_type))
        if start > 0:
            links.append(
                link("prev", href(max(0, start - limit)), type_=ctype, item_type=item_type)
            )
        if start + limit < count:
            links.append(link("next", href(start + limit), type_=ctype, item_type=item_type))
            last = ((count - 1) // limit) * limit
            links.append(link("last", href(last), type_=ctype, item_type=item_type))
    links.extend(extra_links or [])
    return {
        "name": name,
        "accept": item_type,
        "start": start,
        "count": count,
        "limit": limit,
        "items": items,
        "links": links,
        "version": 2,
    }
