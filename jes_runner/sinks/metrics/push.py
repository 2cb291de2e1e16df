"""Pushgateway transport: one push per run, with auth, TLS, retries and a bounded time.

Push semantics (why not "PUT, then POST last-success": a later failed run's PUT
would replace the whole group and erase the last success):

* run succeeded (status ``completed``): **PUT** -- the group becomes exactly this
  run's series, including ``jes_last_success_timestamp_seconds``; series of
  earlier runs (other jobs, renamed phases, retired metric names) disappear.
* run did not succeed: **POST** -- the gateway replaces every pushed metric
  *family* wholesale (all its series) and keeps families not in the push, so the
  last success survives. The Pushgateway ignores a family without samples, so
  a family that would be empty (e.g. no job got a duration) gets one NaN
  placeholder series with empty labels; that still replaces the earlier run's
  series instead of leaving them to look current.
"""

from __future__ import annotations

import base64
import http.client
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prometheus_client import push_to_gateway, pushadd_to_gateway

from jes_runner._util import SocketDeadline, redact_url
from jes_runner.errors import ExitCode, JesError
from jes_runner.sinks.metrics.registry import JOB, build_registry, default_labels, run_succeeded

log = logging.getLogger("jes_runner.sinks.metrics.push")

__all__ = ["PushHTTPError", "push_results", "pushgateway_handler", "redact_url"]

Handler = Callable[..., Callable[[], None]]

DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 0.5
DEFAULT_TIMEOUT_S = 10.0
RETRYABLE_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class PushHTTPError(OSError):
    """The Pushgateway answered with an error status (body kept short, no request headers)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(f"HTTP {status} {reason}".strip() + (f": {body}" if body else ""))
        self.status = status


def _secret(settings: Any, name: str) -> str | None:
    value = getattr(settings, name, None)
    if value is None:
        return None
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    return str(value) or None


class _WatchedHTTPConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        deadline = SocketDeadline.current()
        if deadline is not None:
            deadline.watch(self)  # read self.sock when the time is up
        super().connect()


class _WatchedHTTPSConnection(http.client.HTTPSConnection):
    def connect(self) -> None:
        deadline = SocketDeadline.current()
        if deadline is not None:
            deadline.watch(self)
        super().connect()


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_WatchedHTTPConnection, req)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(context=context)
        self._ctx = context

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(_WatchedHTTPSConnection, req, context=self._ctx)


def pushgateway_handler(
    username: str | None = None,
    password: str | None = None,
    token: str | None = None,
    ca_bundle: str | Path | None = None,
) -> Handler:
    """A prometheus_client push handler with basic auth or a bearer token and a CA bundle.

    Errors carry the status and the gateway's (short) answer, never the request headers.
    """
    auth: str | None = None
    if token:
        auth = f"Bearer {token}"
    elif username is not None and password is not None:
        auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
    opener = urllib.request.build_opener(
        _WatchedHTTPHandler(), _WatchedHTTPSHandler(context=context)
    )

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        def send() -> None:
            req = urllib.request.Request(url, data=data, method=method)
            for k, v in headers:
                req.add_header(k, v)
            if auth:
                req.add_header("Authorization", auth)
            # ``timeout`` bounds the whole exchange (connect + send + every read), not each read
            total = DEFAULT_TIMEOUT_S if timeout is None else timeout
            with SocketDeadline(total) as deadline:
                try:
                    with opener.open(req, timeout=total) as resp:
                        resp.read()
                except urllib.error.HTTPError as e:
                    body = " ".join(e.read(300).decode("utf-8", "replace").split())
                    raise PushHTTPError(e.code, str(e.reason or ""), body) from None
                except (OSError, http.client.HTTPException):
                    if deadline.expired:
                        raise TimeoutError(f"no complete answer within {total:g} s") from None
                    raise
                if deadline.expired:  # cut off mid-body: an answer read to the end was not received
                    raise TimeoutError(f"no complete answer within {total:g} s")

        return send

    return handler


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, PushHTTPError):
        return exc.status in RETRYABLE_HTTP
    if isinstance(getattr(exc, "reason", None), ssl.SSLCertVerificationError):
        return False  # an untrusted certificate stays untrusted
    return isinstance(exc, OSError)  # URLError, refused, reset, timeout


def _reason(exc: BaseException, secrets: Iterable[str | None]) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        text = (
            f"{exc.reason.__class__.__name__}: {exc.reason}"
            if isinstance(exc.reason, BaseException)
            else str(exc.reason)
        )
    else:
        text = f"{exc}" or exc.__class__.__name__
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return " ".join(text.split())


def push_results(
    results: Mapping[str, Any],
    settings: Any,
    *,
    labels: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Push one run's metrics (PUT if it succeeded, POST if not -- see the module doc).

    ``settings``: anything with ``pushgateway_url`` and optionally ``cluster``,
    ``environment``, ``pushgateway_username``, ``pushgateway_password``,
    ``pushgateway_token``, ``pushgateway_ca_bundle``, ``pushgateway_timeout_s``,
    ``pushgateway_retries``, ``pushgateway_backoff_s``. Retries connection errors and
    5xx/408/429 with exponential backoff; then logs one line and raises
    ``JesError(exit_code=ExitCode.PUSH_FAILED)``. Each attempt is bounded as a whole
    (connect + send + every read) by ``pushgateway_timeout_s``; ``deadline``
    (``clock()`` time, e.g. the end of a SIGTERM grace period) bounds all attempts
    and waits together: no attempt or wait starts that could not end before it.
    """
    url = getattr(settings, "pushgateway_url", None)
    if not url:
        raise JesError("no Pushgateway URL: set JES_PUSHGATEWAY_URL")
    url = str(url).strip().rstrip("/")
    safe_url = redact_url(url)
    parts = urlsplit(url if "://" in url else f"http://{url}")
    username = getattr(settings, "pushgateway_username", None) or parts.username
    password = _secret(settings, "pushgateway_password") or parts.password
    token = _secret(settings, "pushgateway_token")
    if parts.username or parts.password or parts.query:  # credentials go in a header, not the URL
        url = safe_url
    ca_bundle = getattr(settings, "pushgateway_ca_bundle", None)
    timeout = float(getattr(settings, "pushgateway_timeout_s", None) or DEFAULT_TIMEOUT_S)
    retries = getattr(settings, "pushgateway_retries", None)
    retries = DEFAULT_RETRIES if retries is None else int(retries)
    backoff = getattr(settings, "pushgateway_backoff_s", None)
    backoff = DEFAULT_BACKOFF_S if backoff is None else float(backoff)

    grouping = dict(labels) if labels is not None else default_labels(results, settings)
    registry = build_registry(results, grouping)
    method, push = (
        ("PUT", push_to_gateway) if run_succeeded(results) else ("POST", pushadd_to_gateway)
    )
    group = ",".join(f"{k}={v}" for k, v in {"job": JOB, **grouping}.items())
    try:
        handler = pushgateway_handler(username, password, token, ca_bundle)
    except (OSError, ssl.SSLError) as e:  # unreadable CA bundle
        msg = f"Pushgateway push to {safe_url} not attempted: CA bundle {ca_bundle}: {e.__class__.__name__}"
        log.warning(msg)
        raise JesError(msg, ExitCode.PUSH_FAILED) from None

    attempts = retries + 1
    for attempt in range(1, attempts + 1):
        budget = timeout if deadline is None else min(timeout, deadline - clock())
        try:
            if budget <= 0:
                raise TimeoutError("no time left before the deadline (grace period)")
            push(
                url,
                job=JOB,
                registry=registry,
                grouping_key=grouping,
                timeout=budget,
                handler=handler,
            )
        except Exception as e:  # anything the transport raises is a push failure
            reason = _reason(e, (password, token))
            delay = backoff * 2 ** (attempt - 1)
            fits = deadline is None or clock() + delay < deadline
            if attempt < attempts and _retryable(e) and fits and budget > 0:
                log.debug(
                    "Pushgateway push attempt %d/%d failed (%s); retrying in %.1fs",
                    attempt,
                    attempts,
                    reason,
                    delay,
                )
                sleep(delay)
                continue
            msg = (
                f"Pushgateway push ({method}, group {group}) to {safe_url} failed after "
                f"{attempt} attempt(s): {reason}"
            )
            log.warning(msg)
            raise JesError(msg, ExitCode.PUSH_FAILED) from None
        log.info("pushed metrics (%s, group %s) to %s", method, group, safe_url)
        return
