"""push_results over real HTTP to a scripted local server: method, auth headers,
retries with backoff, one log line, exit code 4, no secrets in errors or logs."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from metrics_helpers import make_results
from support.servers import free_port

from jes_runner.config.settings import load_settings
from jes_runner.errors import ConfigError, ExitCode, JesError
from jes_runner.sinks.metrics.push import push_results, redact_url

PASSWORD = "pw-Sup3rSecret"
TOKEN = "tok-Sup3rSecret"


class Scripted:
    """A local HTTP server answering pushes with scripted statuses; records every request."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.requests: list[dict[str, Any]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body.decode(),
                    }
                )
                status = outer.statuses.pop(0) if outer.statuses else 200
                msg = (
                    b"pushed metrics are invalid or inconsistent with existing metrics"
                    if status == 400
                    else b""
                )
                self.send_response(status)
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)

            do_PUT = do_POST = _any

            def log_message(self, *a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted() -> Iterator[Any]:
    made: list[Scripted] = []

    def make(*statuses: int) -> Scripted:
        made.append(Scripted(list(statuses)))
        return made[-1]

    yield make
    for s in made:
        s.close()


class Records(logging.Handler):
    """Everything jes_runner.sinks.metrics.registry logs (attached to the logger itself: other tests' logging
    setup may stop propagation to the root logger, where caplog listens)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def text(self) -> str:
        return "\n".join(r.getMessage() for r in self.records)


@pytest.fixture
def logs() -> Iterator[Records]:
    logger = logging.getLogger("jes_runner.sinks.metrics.push")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def settings(url: str, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(pushgateway_url=url, cluster="c1", environment="dev", **kw)


def test_success_is_put_to_the_constant_group(scripted: Any) -> None:
    srv = scripted()
    r = make_results()
    push_results(r, settings(srv.url))
    (req,) = srv.requests
    assert req["method"] == "PUT"
    # grouping key: job + the file's labels, no run id / timestamp
    assert (
        req["path"] == "/metrics/job/jes-runner/cluster/test-cluster/environment/ci/profile/nightly"
    )
    assert r["run_id"] not in req["path"]
    assert "jes_last_success_timestamp_seconds" in req["body"]
    assert "Authorization" not in req["headers"]


def test_failed_run_is_posted_without_last_success(scripted: Any) -> None:
    srv = scripted()
    push_results(make_results(status="completed_with_failures", failed=("AE",)), settings(srv.url))
    (req,) = srv.requests
    assert req["method"] == "POST"
    assert "jes_last_success_timestamp_seconds" not in req["body"]
    assert "jes_run_success" in req["body"]


def test_bearer_token_and_basic_auth_headers(scripted: Any) -> None:
    srv = scripted()
    push_results(make_results(), settings(srv.url, pushgateway_token=TOKEN))
    push_results(
        make_results(), settings(srv.url, pushgateway_username="jes", pushgateway_password=PASSWORD)
    )
    # credentials in the URL move to the header; the request URL carries none
    host = srv.url.removeprefix("http://")
    push_results(make_results(), settings(f"http://jes:{PASSWORD}@{host}"))
    assert srv.requests[0]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert srv.requests[1]["headers"]["Authorization"] == "Basic amVzOnB3LVN1cDNyU2VjcmV0"
    assert srv.requests[2]["headers"]["Authorization"] == "Basic amVzOnB3LVN1cDNyU2VjcmV0"
    assert PASSWORD not in srv.requests[2]["path"]


def test_server_errors_are_retried_with_backoff(scripted: Any) -> None:
    srv = scripted(503, 502)
    delays: list[float] = []
    push_results(make_results(), settings(srv.url, pushgateway_backoff_s=0.25), sleep=delays.append)
    assert [r["method"] for r in srv.requests] == ["PUT"] * 3
    assert delays == [0.25, 0.5]


def test_rejected_push_is_not_retried_and_says_why(scripted: Any, logs: Records) -> None:
    srv = scripted(400)
    with pytest.raises(JesError) as e:
        push_results(make_results(), settings(srv.url), sleep=lambda _: None)
    assert e.value.exit_code == ExitCode.PUSH_FAILED
    assert len(srv.requests) == 1
    assert "HTTP 400" in str(e.value) and "inconsistent with existing metrics" in str(e.value)
    assert [r.getMessage() for r in logs.records] == [str(e.value)]


def test_auth_refused_names_status_not_secrets(scripted: Any, logs: Records) -> None:
    srv = scripted(401)
    with pytest.raises(JesError) as e:
        push_results(
            make_results(),
            settings(srv.url, pushgateway_username="jes", pushgateway_password=PASSWORD),
        )
    assert "HTTP 401" in str(e.value)
    for text in (str(e.value), logs.text):
        assert PASSWORD not in text and "amVzOnB3" not in text


def test_unreachable_gateway_retries_then_one_line_and_exit_4(logs: Records) -> None:
    port = free_port()  # nothing listens there
    delays: list[float] = []
    url = f"http://jes:{PASSWORD}@127.0.0.1:{port}/?token={TOKEN}"
    with pytest.raises(JesError) as e:
        push_results(
            make_results(),
            settings(url, pushgateway_token=TOKEN, pushgateway_retries=2),
            sleep=delays.append,
        )
    assert e.value.exit_code == ExitCode.PUSH_FAILED
    assert delays == [0.5, 1.0]  # 3 attempts, exponential backoff
    msg = str(e.value)
    assert "\n" not in msg and "after 3 attempt(s)" in msg and f"127.0.0.1:{port}" in msg
    assert "refused" in msg.lower()
    assert len(logs.records) == 3  # two debug lines for the retries, one warning
    warnings = [r for r in logs.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [msg]
    for text in (msg, logs.text):
        assert PASSWORD not in text and TOKEN not in text


def test_missing_url_is_bad_input() -> None:
    with pytest.raises(JesError) as e:
        push_results(make_results(), settings(""))
    assert e.value.exit_code == ExitCode.BAD_INPUT


def test_redact_url() -> None:
    assert (
        redact_url("https://u:p@gw.example:9443/prefix?token=x") == "https://gw.example:9443/prefix"
    )
    assert redact_url("gw:9091") == "http://gw:9091"


def test_unreadable_ca_bundle_fails_without_a_request(scripted: Any, tmp_path: Any) -> None:
    srv = scripted()
    with pytest.raises(JesError) as e:
        push_results(
            make_results(), settings(srv.url, pushgateway_ca_bundle=tmp_path / "missing.pem")
        )
    assert e.value.exit_code == ExitCode.PUSH_FAILED and "CA bundle" in str(e.value)
    assert srv.requests == []


def test_settings_pushgateway_fields(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, scripted: Any
) -> None:
    for k in list(os.environ):
        if k.startswith("JES_"):
            monkeypatch.delenv(k)
    monkeypatch.chdir(tmp_path)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "pushgateway_password").write_text(PASSWORD + "\n")  # a mounted Secret key
    srv = scripted()
    monkeypatch.setenv("JES_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("JES_PUSHGATEWAY_URL", srv.url.removeprefix("http://"))  # scheme optional
    monkeypatch.setenv("JES_PUSHGATEWAY_USERNAME", "jes")
    s = load_settings()
    assert s.pushgateway_url == srv.url and s.pushgateway_retries == 3
    masked = s.masked()
    assert masked["pushgateway_password"] == "********" and PASSWORD not in str(masked)
    push_results(make_results(), s)
    assert srv.requests[0]["headers"]["Authorization"] == "Basic amVzOnB3LVN1cDNyU2VjcmV0"

    monkeypatch.setenv("JES_PUSHGATEWAY_TOKEN", TOKEN)
    with pytest.raises(ConfigError, match="not both"):
        load_settings()
    monkeypatch.delenv("JES_PUSHGATEWAY_TOKEN")
    monkeypatch.setenv("JES_PUSHGATEWAY_URL", f"http://jes:{PASSWORD}@gw:9091")
    assert PASSWORD not in str(load_settings().masked())
