"""The transport seam: a handler turns one prepared request into one response.

Anything callable as ``handler(request) -> response`` can stand in for the
network (tests pass a function; the benchmark wraps the default to count calls).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

Handler = Callable[[requests.PreparedRequest], requests.Response]


class RequestsTransport:
    """Default handler: a pooled requests.Session, no redirects, no adapter retries."""

    def __init__(self, *, timeout: float = 30.0, verify: bool | str = True, pool_size: int = 16) -> None:
        self.timeout = timeout
        self.verify = verify
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        # merge_environment_settings honours HTTPS_PROXY/NO_PROXY and REQUESTS_CA_BUNDLE like requests.get would
        env: Mapping[str, Any] = self.session.merge_environment_settings(request.url, {}, None, self.verify, None)
        return self.session.send(
            request,
            timeout=self.timeout,
            allow_redirects=False,
            verify=env.get("verify", self.verify),
            proxies=env.get("proxies") or {},
        )

    def close(self) -> None:
        self.session.close()


def describe_transport_error(e: BaseException) -> str:
    text = str(e).lower()
    if isinstance(e, requests.Timeout):
        return "timed out"
    if isinstance(e, requests.exceptions.SSLError):
        return "TLS handshake failed (set JES_CA_BUNDLE or JES_VERIFY_TLS=false)"
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "resolve" in text:
        return "host name not found"
    return e.__class__.__name__
