"""Building blocks for unit tests of the Viya client through its handler seam
(``PreparedRequest -> Response``): unsigned JWTs, canned responses, a recording handler and a client on the seam."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import requests

from jes_runner.viya import Credentials, RetryPolicy, ViyaClient


def jwt(exp: float | None = None, lifetime: float = 3600) -> str:
    """An unsigned JWT expiring at ``exp`` (default: ``lifetime`` from now)."""
    if exp is None:
        exp = time.time() + lifetime

    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'none'})}.{b64({'exp': int(exp), 'iat': int(exp - lifetime), 'sub': 'u'})}.sig"


def respond(
    req: requests.PreparedRequest,
    status: int,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode() if body is not None else b""
    r.headers.update({"Content-Type": "application/json", **(headers or {})})
    r.request = req
    r.url = req.url or ""
    return r


BASE = "http://viya.test"


class Recorder:
    """A handler built from a function, keeping every request it saw."""

    def __init__(self, fn: Callable[[requests.PreparedRequest], requests.Response]) -> None:
        self.fn = fn
        self.seen: list[requests.PreparedRequest] = []

    def __call__(self, req: requests.PreparedRequest) -> requests.Response:
        self.seen.append(req)
        return self.fn(req)

    def paths(self) -> list[str]:
        return [f"{r.method} {urllib.parse.urlsplit(r.url or '').path}" for r in self.seen]


def no_sleep(_: float) -> None:
    pass


def seam_client(
    handler: Callable[..., requests.Response], creds: Credentials | None = None, **kw: Any
) -> ViyaClient:
    """A ViyaClient on the handler seam: 3 quick retries, no real sleeping."""
    return ViyaClient(
        BASE,
        creds or Credentials(username="u", password="p"),
        handler=handler,
        retry=RetryPolicy(max_retries=3, backoff_s=0.001),
        sleep=no_sleep,
        **kw,
    )
