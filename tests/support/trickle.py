"""A loopback HTTP server that answers every request one byte every ``interval`` seconds.

What a per-read timeout never catches: each byte arrives well within it, the answer
never ends. Used against the Viya client and the Pushgateway push (their deadline
must bound the whole exchange) and by the fault matrix.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Trickle:
    url: str
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
    + b" " * 4096
)


@contextmanager
def trickle_server(interval: float = 3.0) -> Iterator[Trickle]:
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    t = Trickle(f"http://127.0.0.1:{srv.getsockname()[1]}")

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(interval + 5)
            conn.recv(65536)
            for b in ANSWER:
                conn.sendall(bytes([b]))
                if t.stop.wait(interval):
                    return

    def accept() -> None:
        while not t.stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            t.connections += 1
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        yield t
    finally:
        t.stop.set()
        th.join(5)
        srv.close()
