"""Building blocks for unit tests of the Viya client through its handler seam
(``PreparedRequest -> Response``): unsigned JWTs and canned responses."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import requests


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
