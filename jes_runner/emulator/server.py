"""HTTP plumbing: a threaded HTTP/1.1 server, request parsing, faults, auth, encoding.

Per request: route -> count "METHOD /template" -> (Viya paths only) faults:
latency, reset, 429, 5xx -> orchestrator outage -> bearer check -> the endpoint
(under the lock, model advanced to now) -> maybe drop the reply -> encode and
send outside the lock. Unknown paths answer a 404 SAS error and share one
request counter ("METHOD (no route)"), so probing clients cannot grow it.

Limits (people run the emulator as a demo server, sometimes not on loopback):

* a connection waiting for its next request is closed after ``idle_timeout_s``;
  a request must arrive whole (request line after the first wait, headers, body)
  within ``request_timeout_s`` -- a reaper thread shuts sockets past their
  deadline, so a client trickling bytes cannot hold a thread for long;
* a body above ``max_body_bytes`` is answered 413 without being read, a bogus
  ``Content-Length`` 400; both close the connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from jes_runner.emulator.clock import iso_ms
from jes_runner.emulator.http import EMULATOR_HEADER, ApiError, Request, Response, sas_error
from jes_runner.emulator.routes import ROUTER

if TYPE_CHECKING:
    from jes_runner.emulator.app import Emulator

log = logging.getLogger("jes_runner.emulator")


IDLE_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 8 * 1024 * 1024  # a job request is a few KiB
REAP_EVERY_S = 0.25
NO_ROUTE = "(no route)"


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # quick restarts in tests; a live listener still refuses
    request_queue_size = 256  # bursts of 1,000 submissions from many client threads

    def __init__(
        self,
        app: Emulator,
        address: tuple[str, int],
        *,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.abort: set[int] = set()  # fds of connections to reset rather than close
        self.conns: set[socket.socket] = set()  # open keep-alive connections, closed on stop
        self.conns_lock = threading.Lock()
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.max_body_bytes = max_body_bytes
        # connection -> when it is shut (under conns_lock)
        self.deadlines: dict[socket.socket, float] = {}
        self._reaper_stop = threading.Event()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, Handler)
        threading.Thread(target=self._reap, name="emulator-reaper", daemon=True).start()

    def arm(self, conn: socket.socket, seconds: float) -> None:
        with self.conns_lock:
            self.deadlines[conn] = time.monotonic() + seconds

    def disarm(self, conn: socket.socket) -> None:
        with self.conns_lock:
            self.deadlines.pop(conn, None)

    def _reap(self) -> None:
        """Shut connections past their deadline: the blocked read returns and the thread ends."""
        while not self._reaper_stop.wait(REAP_EVERY_S):
            now = time.monotonic()
            with self.conns_lock:
                late = [c for c, d in self.deadlines.items() if d <= now]
                for c in late:
                    del self.deadlines[c]
            for c in late:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._reaper_stop.set()
        super().server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone (or a connection the reaper cut) is routine, not a traceback on stderr."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            log.debug(
                "emulator: connection from %s ended: %s", client_address, exc.__class__.__name__
            )
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """End idle keep-alive connections so a stopped emulator stops answering."""
        with self.conns_lock:
            conns = list(self.conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def shutdown_request(self, request: Any) -> None:
        if request.fileno() in self.abort:
            self.abort.discard(request.fileno())
            request.close()  # SO_LINGER 0 is set: the close sends RST
            return
        super().shutdown_request(request)


def make_server(app: Emulator, host: str, port: int, **limits: Any) -> EmulatorServer:
    """``limits``: ``idle_timeout_s``, ``request_timeout_s``, ``max_body_bytes`` (see the module doc)."""
    return EmulatorServer(app, (host, port), **limits)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "jes-viya-emulator/1"
    sys_version = ""
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        # replies leave in one write (_send); no Nagle delay on small ones either way
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.conns_lock:
            self.server.conns.add(self.connection)

    def finish(self) -> None:
        with self.server.conns_lock:
            self.server.conns.discard(self.connection)
            self.server.deadlines.pop(self.connection, None)
        super().finish()

    def handle_one_request(self) -> None:
        self.server.arm(self.connection, self.server.idle_timeout_s)  # waiting for the next request
        super().handle_one_request()

    def parse_request(self) -> bool:
        # the request line is in: headers and body must follow within the request timeout
        self.server.arm(self.connection, self.server.request_timeout_s)
        return super().parse_request()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    # ----- request flow ---------------------------------------------------------

    def _handle(self, method: str) -> None:
        """One request: read the body, route it, inject faults, check auth, answer."""
        app = self.server.app
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        route, params, allowed = ROUTER.match(method, path)
        endpoint = route.endpoint if route else f"{method} {NO_ROUTE}"
        app.count(endpoint)
        body = self._read_body(path)
        if body is None:
            return None
        self.server.disarm(self.connection)  # the request is in; answering takes what it takes
        if route is None:
            return self._send(_no_route(method, path, allowed))
        req = Request(method, path, query, self.headers, body, params)
        decision = None
        if not route.admin:
            decision, refusal = self._injected_fault(endpoint, method, path)
            if decision.action == "reset":
                return self._reset()
            if refusal is not None:
                return self._send(refusal)
        if route.auth:
            check = app.tokens.check(self.headers.get("Authorization"))
            if not check.ok:
                return self._send(
                    sas_error(
                        401,
                        check.description,
                        [f"error: {check.error}"],
                        path,
                        {"WWW-Authenticate": check.www_authenticate()},
                    )
                )
            req.user = check.user or check.client_id
        resp = self._answer(route, req)
        if decision is not None and decision.action == "drop":
            with app.lock:
                app.faults.record(iso_ms(time.time()), time.time(), endpoint, "drop", None)
            return self._close_silently()
        self._send(resp)

    def _read_body(self, path: str) -> bytes | None:
        """The request body, or None once answered (bad or oversized Content-Length) or cut off."""
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isdigit():  # "abc", "-5", "1e9": answered, never a traceback
            self.close_connection = True
            self._send(
                sas_error(400, "The Content-Length header is not a number of bytes.", path=path)
            )
            return None
        length = int(raw_length)
        if length > self.server.max_body_bytes:
            self.close_connection = True  # the body is not read: the connection cannot be reused
            self._send(
                sas_error(
                    413,
                    f"The request body is larger than {self.server.max_body_bytes} bytes.",
                    path=path,
                )
            )
            return None
        body = self.rfile.read(length) if length > 0 else b""
        if len(body) < length:  # the client went away (or the request timeout shut it) mid-body
            self.close_connection = True
            return None
        return body

    def _injected_fault(self, endpoint: str, method: str, path: str) -> tuple[Any, Response | None]:
        """The scenario's fault decision for this request (latency already waited out), and the
        error answer it calls for, if any (an orchestrator outage included)."""
        app = self.server.app
        with app.lock:
            now = app.sync()
            decision = app.faults.decide(endpoint, method, now)
            if decision.action and decision.action != "drop":
                app.faults.record(
                    iso_ms(time.time()),
                    time.time(),
                    endpoint,
                    decision.action,
                    decision.status or None,
                )
            outage = path.startswith("/workloadOrchestrator") and app.faults.outage(now)
            if outage:
                app.faults.record(iso_ms(time.time()), time.time(), endpoint, "outage", 503)
        if decision.latency_s:
            time.sleep(decision.latency_s)
        if decision.action == "throttle":
            return decision, sas_error(
                429,
                "Too many requests.",
                ["injected fault: rate limited"],
                path,
                {"Retry-After": str(decision.retry_after)},
            )
        if decision.action == "error":
            message = (
                "The service is unavailable."
                if decision.status != 500
                else "An internal server error occurred."
            )
            return decision, sas_error(decision.status, message, ["injected fault"], path)
        if decision.action == "garbage":
            return decision, Response(200, "<html>proxy error</html>", "text/html", {})
        if outage and decision.action != "reset":
            return decision, sas_error(
                503,
                "The workload orchestrator service is unavailable.",
                ["injected fault: orchestrator outage"],
                path,
            )
        return decision, None

    def _answer(self, route: Any, req: Request) -> Response:
        """The endpoint's answer; a model endpoint runs with the cluster advanced to now."""
        app = self.server.app
        try:
            if route.model:
                with app.lock:
                    app.sync()
                    return route.func(app, req)
            return route.func(app, req)
        except ApiError as e:
            return sas_error(e.status, e.message, e.details, req.path, e.headers)
        except Exception:  # a bug: answer like a real service would, keep serving
            log.exception("emulator: %s %s failed", req.method, self.path)
            return sas_error(
                500,
                "An internal server error occurred.",
                ["emulator bug; see the emulator log"],
                req.path,
            )

    # ----- output ---------------------------------------------------------------

    def _send(self, resp: Response) -> None:
        if resp.stream is not None:
            return self._send_stream(resp)
        body = resp.body
        if body is None or resp.status in (204, 304):
            data = b""
        elif isinstance(body, str):
            data = body.encode("utf-8")
        else:
            data = json.dumps(body, separators=(",", ":")).encode("utf-8")
        headers = {"Server": self.version_string(), "Date": self.date_time_string()}
        if resp.status not in (204, 304):
            ctype = resp.content_type
            if isinstance(body, str) and "charset" not in ctype:
                ctype += "; charset=utf-8"
            headers["Content-Type"] = ctype
        headers.update(resp.headers)
        headers[EMULATOR_HEADER] = self.server.app.identity()
        headers["Content-Length"] = str(len(data))
        reason = (
            HTTPStatus(resp.status).phrase if resp.status in HTTPStatus._value2member_map_ else ""
        )
        head = f"{self.protocol_version} {resp.status} {reason}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.log_request(resp.status, len(data))
        self.wfile.write(head.encode("latin-1") + data)  # one write: no Nagle stall

    def _send_stream(self, resp: Response) -> None:
        """Chunked transfer encoding, one chunk per item, written as it comes (a watch)."""
        assert resp.stream is not None
        headers = {"Server": self.version_string(), "Date": self.date_time_string()}
        headers["Content-Type"] = resp.content_type
        headers.update(resp.headers)
        headers[EMULATOR_HEADER] = self.server.app.identity()
        headers["Transfer-Encoding"] = "chunked"
        head = f"{self.protocol_version} {resp.status} {HTTPStatus(resp.status).phrase}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        self.log_request(resp.status, "-")
        try:
            self.wfile.write(head.encode("latin-1"))
            for chunk in resp.stream:
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away (a stopped watch)
            self.close_connection = True
        finally:
            close = getattr(resp.stream, "close", None)
            if close is not None:
                close()

    def _reset(self) -> None:
        """Abort the connection with a TCP RST and no response."""
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.server.abort.add(sock.fileno())
        self.close_connection = True

    def _close_silently(self) -> None:
        """The request was processed but the reply is lost: close with no response."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


def _no_route(method: str, path: str, allowed: list[str]) -> Response:
    """405 with Allow when the path exists for other methods, else 404."""
    if allowed:
        return sas_error(
            405,
            f"The method {method} is not allowed for {path}.",
            path=path,
            headers={"Allow": ", ".join(allowed)},
        )
    return sas_error(404, f"The resource {path} was not found.", path=path)
