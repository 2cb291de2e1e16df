"""The transport seam: a handler turns one prepared request into one response.

Anything callable as ``handler(request) -> response`` can stand in for the
network (tests pass a function; the benchmark wraps the default to count calls).
"""

from __future__ import annotations

import collections
import logging
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from jes_runner._util import SocketDeadline

Handler = Callable[[requests.PreparedRequest], requests.Response]

# the most of any answer body held in memory: a bigger one keeps its last MAX_BODY_BYTES (a log's
# tail is what is wanted of it) and is marked truncated (a JSON reader refuses it as too large)
MAX_BODY_BYTES = 32 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
TRUNCATED_ATTR = "jes_body_truncated"


def body_truncated(resp: requests.Response) -> bool:
    return bool(getattr(resp, TRUNCATED_ATTR, False))


def _read_capped(resp: requests.Response, cap: int) -> None:
    """Read the streamed body, holding at most ``cap`` bytes (the last ones) at any time."""
    chunks: collections.deque[bytes] = collections.deque()
    held = 0
    truncated = False
    for chunk in resp.iter_content(CHUNK_BYTES):
        chunks.append(chunk)
        held += len(chunk)
        while held - len(chunks[0]) >= cap:
            held -= len(chunks.popleft())
            truncated = True
    body = b"".join(chunks)
    if len(body) > cap:
        body, truncated = body[-cap:], True
    resp._content = body
    resp._content_consumed = True  # type: ignore[attr-defined]
    setattr(resp, TRUNCATED_ATTR, truncated)


log = logging.getLogger("jes_runner.viya")


class _Watched:
    """Pool mixin: hands every connection it lends to the exchange's :class:`SocketDeadline`."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        deadline = SocketDeadline.current()
        if deadline is not None:
            deadline.watch(conn)
        return conn


class _WatchedPool(_Watched, HTTPConnectionPool):
    pass


class _WatchedHTTPSPool(_Watched, HTTPSConnectionPool):
    pass


_POOLS = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


class RequestsTransport:
    """Default handler: a pooled requests.Session, no redirects, no adapter retries.

    Bodies are streamed and capped (``MAX_BODY_BYTES``, see ``_read_capped``).
    ``timeout`` bounds each whole exchange -- connect, send, the status line, headers and
    body -- not each read: a server trickling one byte every few seconds is cut off
    when the time is up (:class:`SocketDeadline`), and the exchange fails as a timeout.
    With ``verify=False`` one warning is logged per client, not one per request.
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
        pool_size: int = 16,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.timeout = timeout
        self.max_body_bytes = max_body_bytes
        self.verify = verify
        self.session = requests.Session()
        adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        if verify is False:
            # urllib3 would warn on every request; said once here instead (process-wide: a CLI run is one client)
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
            log.warning(
                "TLS certificate verification is off (--no-verify-tls / JES_VERIFY_TLS=false): "
                "anyone on the path can read the credentials; use JES_CA_BUNDLE instead"
            )

    def __call__(self, request: requests.PreparedRequest) -> requests.Response:
        # merge_environment_settings honours HTTPS_PROXY/NO_PROXY and REQUESTS_CA_BUNDLE like requests.get would
        env: Mapping[str, Any] = self.session.merge_environment_settings(
            request.url, {}, None, self.verify, None
        )
        # the client may shorten one exchange (first contact with a server that never answered)
        timeout = min(getattr(request, "jes_timeout", None) or self.timeout, self.timeout)
        with SocketDeadline(timeout) as deadline:
            try:
                resp = self.session.send(
                    request,
                    timeout=timeout,
                    allow_redirects=False,
                    verify=env.get("verify", self.verify),
                    proxies=env.get("proxies") or {},
                    stream=True,  # read below, capped: no answer can take the runner's memory
                )
                try:
                    _read_capped(resp, self.max_body_bytes)
                finally:
                    resp.close()
                return resp
            except requests.RequestException as e:
                if deadline.expired:
                    raise requests.exceptions.Timeout(
                        f"no complete answer within {timeout:g} s"
                    ) from e
                raise

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
