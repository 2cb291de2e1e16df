"""The emulator's HTTP types: a parsed request, a response, the SAS error body, routes and the router.

No endpoint lives here (``api.py``: Viya endpoints; ``k8s.py``: the small Kubernetes API;
``routes.py``: the table), so every endpoint module can import these without a cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jes_runner.emulator.app import Emulator

ERROR_TYPE = "application/vnd.sas.error+json"
# on every response: a run pointed at the emulator by URL knows it measured a model, and at what speed
EMULATOR_HEADER = "X-Jes-Emulator"


def emulator_identity(speed_factor: float, scenario: str) -> str:
    """The ``X-Jes-Emulator`` value: ``speed_factor=<f>; scenario=<name>``."""
    return f"speed_factor={float(speed_factor)}; scenario={scenario}"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any  # email.message.Message: case-insensitive get()
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    user: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            raise ApiError(400, "The request body is not valid JSON.") from None


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list -> JSON, str -> text, None -> empty
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterator[bytes] | None = None  # sent chunked, item by item (a Kubernetes watch)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        details: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.details, self.headers = (
            status,
            message,
            details or [],
            headers or {},
        )


def sas_error(
    status: int,
    message: str,
    details: list[str] | None = None,
    path: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    body = {
        "errorCode": {400: 1000, 401: 1001, 403: 1003, 404: 1004, 405: 1005, 429: 1029}.get(
            status, 5000 + status % 100
        ),
        "message": message,
        "details": [*(details or []), f"path: {path}"] if path else list(details or []),
        "links": [],
        "version": 2,
        "httpStatusCode": status,
    }
    return Response(status, body, ERROR_TYPE, dict(headers or {}))


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    func: Callable[[Emulator, Request], Response]
    auth: bool = True
    model: bool = True
    admin: bool = False

    @property
    def endpoint(self) -> str:
        return f"{self.method} {self.template}"


class Router:
    """Matches paths segment by segment; ``{name}`` captures one segment."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = [(r, r.template.strip("/").split("/")) for r in routes]

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, params, allowed methods for the path) -- route None when no method matches."""
        segs = path.strip("/").split("/")
        allowed: list[str] = []
        for route, tsegs in self.routes:
            if len(tsegs) != len(segs):
                continue
            params: dict[str, str] = {}
            for t, s in zip(tsegs, segs, strict=True):
                if t.startswith("{"):
                    if not s:
                        break
                    params[t[1:-1]] = s
                elif t != s:
                    break
            else:
                if route.method == method:
                    return route, params, []
                allowed.append(route.method)
        return None, {}, allowed
