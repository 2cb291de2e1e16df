"""A loopback server with one huge job log, streamed (never held): a Range-less files API."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

LINE = b"NOTE: a line of a very long SAS log, repeated to make it hundreds of megabytes....\n"
LAST = b"ERROR: the last line of the log, the one the tail must hold.\n"


@contextmanager
def huge_log_server(size_mb: int) -> Iterator[str]:
    block = LINE * (1024 * 1024 // len(LINE))
    blocks = size_mb * 1024 * 1024 // len(block)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            # Range deliberately ignored: the client must bound its memory by itself
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(blocks * len(block) + len(LAST)))
            self.end_headers()
            try:
                for _ in range(blocks):
                    self.wfile.write(block)
                self.wfile.write(LAST)
            except OSError:
                pass

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
