"""Issue 11's mechanisms one by one: runs that overlap, crash or hang never corrupt each other.

The fault matrix (test_fault_matrix.py) shows them end to end against ground truth;
these pin each one down through the transport seam or on loopback sockets.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
import time
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from support.trickle import trickle_server
from support.viya_fakes import respond

from jes_runner._util import redact_url
from jes_runner.config.settings import load_settings
from jes_runner.errors import ConfigError, JesError
from jes_runner.measure.correlation import Correlator
from jes_runner.measure.records import JobRecord
from jes_runner.results.files import write_results
from jes_runner.sinks.export import write_csv
from jes_runner.sinks.metrics.push import push_results
from jes_runner.viya import (
    RUN_ID_PROPERTY,
    Credentials,
    RequestsTransport,
    RetryPolicy,
    ViyaClient,
    ViyaUnreachable,
)
from jes_runner.viya._auth import BearerAuth

BASE = "http://viya.test"
NAME = "cm_pooled_all_1_1700000000"


class TwoRunViya:
    """Jobs of several runs under one name (what two runs in one second did before the run token)."""

    def __init__(self, lose_post_reply: bool = True, echo_properties: bool = True) -> None:
        self.jobs: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.lose_post_reply = lose_post_reply
        self.echo_properties = echo_properties

    def create(self, name: str, run_id: str) -> dict[str, Any]:
        job = {
            "id": f"id{len(self.jobs)}",
            "state": "running",
            "jobRequest": {"name": name, "properties": {RUN_ID_PROPERTY: run_id}},
            "creationTimeStamp": f"2026-01-01T00:00:{len(self.jobs):02d}.000Z",
        }
        self.jobs.append(job)
        return job

    def __call__(self, req: requests.PreparedRequest) -> requests.Response:
        u = urllib.parse.urlsplit(req.url or "")
        self.calls.append(f"{req.method} {u.path}")
        if u.path.endswith("/oauth/token"):
            return respond(req, 200, {"access_token": "opaque", "expires_in": 3600})
        if req.method == "POST":
            body = json.loads(req.body or b"{}")
            job = self.create(body["name"], body["properties"][RUN_ID_PROPERTY])
            if self.lose_post_reply:
                raise requests.ConnectionError("reply lost")
            return respond(req, 201, job)
        if req.method == "PUT":
            job_id = u.path.split("/")[-2]
            for j in self.jobs:
                if j["id"] == job_id:
                    j["state"] = "canceled"
            return respond(req, 204)
        flt = urllib.parse.parse_qs(u.query)["filter"][0]
        name = flt.split(",", 1)[1].rstrip(")").strip("'\"")
        items = [j for j in self.jobs if j["jobRequest"]["name"] == name]
        if not self.echo_properties:
            items = [{**j, "jobRequest": {"name": name}} for j in items]
        return respond(req, 200, {"items": items})


def _client(handler: Any) -> ViyaClient:
    return ViyaClient(
        BASE,
        Credentials(username="u", password="p"),
        handler=handler,
        retry=RetryPolicy(max_retries=2, backoff_s=0.01),
    )


def test_a_lost_reply_never_adopts_or_cancels_another_runs_job() -> None:
    fake = TwoRunViya()
    fake.create(NAME, "run-B")  # the other run's job, same name, created first
    job = _client(fake).submit_job({"name": NAME, "properties": {RUN_ID_PROPERTY: "run-A"}})
    assert job["jobRequest"]["properties"][RUN_ID_PROPERTY] == "run-A"
    assert [j["state"] for j in fake.jobs] == ["running", "running"]  # B's job untouched
    assert not any(c.startswith("PUT") for c in fake.calls)


def test_a_viya_that_does_not_echo_properties_still_finds_the_job() -> None:
    """No run mark in the answer: the name (it holds the run token) decides; nothing is resubmitted."""
    fake = TwoRunViya(echo_properties=False)
    job = _client(fake).submit_job({"name": NAME, "properties": {RUN_ID_PROPERTY: "run-A"}})
    assert (
        job["id"] == "id0"
        and len(fake.jobs) == 1
        and fake.calls.count("POST /jobExecution/jobs") == 1
    )


def test_a_duplicate_of_this_run_is_still_canceled() -> None:
    fake = TwoRunViya()
    fake.create(NAME, "run-B")
    fake.create(NAME, "run-A")  # an earlier attempt of ours, created late
    job = _client(fake).submit_job({"name": NAME, "properties": {RUN_ID_PROPERTY: "run-A"}})
    assert job["id"] == "id1"
    assert [j["state"] for j in fake.jobs] == ["running", "running", "canceled"]


class _Pages:
    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def orchestrator_pages(self, limit: int = 500, *, deadline: float | None = None) -> Any:
        return iter([self.items])


def _orch(oid: str, name: str) -> dict[str, Any]:
    return {
        "id": oid,
        "request": {"name": name},
        "processingInfo": {
            "state": "DONE",
            "endTime": "2026-01-01T00:01:00Z",
            "submitTime": "2026-01-01T00:00:00Z",
            "executionHost": oid,
        },
    }


def test_an_ambiguous_orchestrator_match_is_unmatched_not_guessed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = JobRecord(
        name="a",
        unique_job_name="a_p_1_1700000000_abc123",
        phase="p",
        context="c",
        sequence=1,
        definition_id="d",
        job_instance_id="j1",
    )
    b = JobRecord(
        name="b",
        unique_job_name="b_p_2_1700000000_abc123",
        phase="p",
        context="c",
        sequence=2,
        definition_id="d",
        job_instance_id="j2",
    )
    uuid = "-0f0f0f0f-0000-4000-8000-000000000000"
    items = [
        _orch("o1", "ap11700000000abc123" + uuid),
        _orch("o2", "ap11700000000abc123" + uuid.replace("0f", "1e")),
        _orch("o3", "bp21700000000abc123" + uuid),
    ]
    with caplog.at_level(logging.WARNING):
        unmatched = Correlator(_Pages(items), deadline_s=0, sleep=lambda s: None).correlate(
            [a, b], None
        )  # type: ignore[arg-type]
    assert unmatched == [a.unique_job_name]
    assert (
        a.orchestrator is None and b.orchestrator and b.orchestrator["orchestrator_job_id"] == "o3"
    )
    assert "left unmatched rather than guessed" in caplog.text


def test_token_expiry_ignores_a_skewed_local_clock() -> None:
    """The client clock is 2 h ahead of SASLogon: tokens look expired by exp, valid by their lifetime."""
    import base64

    grants = []

    def token(now: float) -> str:
        def b64(d: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

        return f"{b64({'alg': 'none'})}.{b64({'iat': int(now), 'exp': int(now) + 300})}.sig"

    def handler(req: requests.PreparedRequest) -> requests.Response:
        grants.append(1)
        return respond(req, 200, {"access_token": token(server_now[0]), "expires_in": 300})

    server_now = [1_700_000_000.0]
    client_now = [server_now[0] + 7200]
    auth = BearerAuth(
        BASE,
        handler,
        Credentials(username="u", password="p"),
        clock=lambda: client_now[0],
        retry=RetryPolicy(max_retries=0),
    )
    for _ in range(80):  # 80 calls over 200 s: one token's lifetime (300 s, refreshed 30 s ahead)
        auth.authenticate()
        server_now[0] += 2.5
        client_now[0] += 2.5
    assert len(grants) == 1
    client_now[0] += 120  # now past receive + lifetime - margin
    auth.authenticate()
    assert len(grants) == 2


def test_results_files_are_exclusive_and_respect_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        when = datetime(2026, 1, 1, 12, 0, 0)
        paths: list[Path] = []
        threads = [
            threading.Thread(
                target=lambda i=i: paths.append(
                    write_results(tmp_path, {"run_id": f"run{i:05d}"}, when)
                )
            )
            for i in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.umask(old)
    assert len(set(paths)) == 6
    assert sorted(json.loads(p.read_text())["run_id"] for p in paths) == [
        f"run{i:05d}" for i in range(6)
    ]
    assert {oct(p.stat().st_mode & 0o777) for p in paths} == {"0o600"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_viya_request_ends_at_its_total_deadline_against_a_trickle() -> None:
    with trickle_server(interval=0.5) as t:
        client = ViyaClient(
            t.url, Credentials(access_token="opaque"), timeout=1.5, retry=RetryPolicy(max_retries=0)
        )
        t0 = time.monotonic()
        with pytest.raises(ViyaUnreachable, match="timed out"):
            client.get_json("/compute/contexts")
        elapsed = time.monotonic() - t0
        client.close()
    # a per-read timeout would wait for all 4 KiB: over half an hour
    assert elapsed < 1.5 + 2.0, elapsed


def test_push_ends_at_its_total_deadline_and_within_a_grace_deadline() -> None:
    class S:
        pushgateway_url = ""
        pushgateway_timeout_s = 1.5
        pushgateway_retries = 3
        pushgateway_backoff_s = 0.05
        cluster = environment = "t"

    results = {"run_id": "r", "status": "completed", "phases": [], "metadata": {}}
    with trickle_server(interval=0.5) as t:
        S.pushgateway_url = t.url
        t0 = time.monotonic()
        with pytest.raises(JesError):
            # what is left of a grace period
            push_results(results, S, deadline=time.monotonic() + 2.0)
        elapsed = time.monotonic() - t0
    # without the total deadline: 4 KiB at 2 B/s, over half an hour
    assert elapsed < 2.0 + 1.5, elapsed


def test_settings_bounds_and_url_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("JES_SECRETS_DIR", str(tmp_path / "none"))
    for key in ("JES_REQUEST_TIMEOUT_S", "JES_GRACE_PERIOD_SECONDS"):
        monkeypatch.setenv(key, "1e10")
        with pytest.raises(ConfigError, match=f"{key}: Input should be less than or equal to"):
            load_settings()
        monkeypatch.delenv(key)
    s = load_settings(
        viya_url="https://jes:pw-Secret%21@viya.example:8443/?token=abc",
        pushgateway_url="https://u:pg-Secret@gw:9091/x?t=1",
    )
    assert s.viya_url == "https://viya.example:8443/?token=abc"
    assert s.username == "jes" and s.secret("password") == "pw-Secret!"
    text = json.dumps(s.masked())
    assert (
        "pw-Secret" not in text
        and "pg-Secret" not in text
        and "abc" not in text.split("viya_url")[1][:60]
    )
    assert redact_url("https://u:p@h:1/p?q=s") == "https://h:1/p"


def test_csv_cells_that_would_be_formulas_are_escaped(tmp_path: Path) -> None:
    study = Path(__file__).resolve().parents[1] / "support" / "data" / "pooled54_study.json"
    results = json.loads(study.read_text())  # the 2025 study (3 phases x 54 jobs) as a results dict
    jobs = results["phases"][1]["jobs"]
    jobs[3]["status"], jobs[3]["error"] = "failed", '=HYPERLINK("http://x","click")'
    jobs[4]["status"], jobs[4]["error"] = "failed", "@SUM(A1)"
    jobs[5]["status"], jobs[5]["error"] = "failed", "+1-2"
    jobs[6]["status"], jobs[6]["error"] = "failed", "-3"
    out = write_csv(results, tmp_path / "jobs.csv")[0]
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    errors = [r["error"] for r in rows if r["error"]]
    assert errors == ['\'=HYPERLINK("http://x","click")', "'@SUM(A1)", "'+1-2", "'-3"]
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_no_verify_tls_warns_once_per_run_not_per_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import http.server
    import ssl
    import warnings

    from support.servers import make_tls_files

    files = make_tls_files(tmp_path / "tls")

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(files["cert"], files["key"])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        with (
            warnings.catch_warnings(record=True) as seen,
            caplog.at_level(logging.WARNING, logger="jes_runner.viya"),
        ):
            warnings.simplefilter("always")
            transport = RequestsTransport(timeout=5, verify=False)
            for _ in range(3):
                resp = transport(
                    requests.Request("GET", f"https://127.0.0.1:{srv.server_address[1]}/").prepare()
                )
                assert resp.status_code == 200
            transport.close()
    finally:
        srv.shutdown()
        srv.server_close()
    assert [w for w in seen if "Unverified HTTPS" in str(w.message)] == []
    assert len([r for r in caplog.records if "verification is off" in r.getMessage()]) == 1


def test_orphans_of_a_dead_run_are_canceled_a_live_runs_never(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another run's jobs past their own run's job timeout (server clock) are a dead run's: listed, and
    canceled with the flag. Jobs within it may belong to a live run: listed, left alone, flag or not."""
    from datetime import UTC, timedelta

    from jes_runner.measure.preflight import handle_orphans
    from jes_runner.viya import TIMEOUT_PROPERTY

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)

    def job(jid: str, run: str, age_s: float, timeout: str = "60") -> dict[str, Any]:
        created = (now - timedelta(seconds=age_s)).isoformat().replace("+00:00", "Z")
        return {
            "id": jid,
            "state": "running",
            "creationTimeStamp": created,
            "jobRequest": {
                "properties": [
                    {"name": RUN_ID_PROPERTY, "value": run},
                    {"name": TIMEOUT_PROPERTY, "value": timeout},
                ]
            },
        }

    class Fake:
        canceled: list[str] = []

        def list_marked_jobs(self) -> list[dict[str, Any]]:
            return [
                job("d1", "dead", 120),
                job("d2", "dead", 100),
                job("l1", "live", 120),
                job("l2", "live", 10),
                job("m1", "mine", 500),
            ]

        def server_now(self) -> datetime:
            return now

        def cancel_job(self, jid: str) -> bool:
            self.canceled.append(jid)
            return True

    fake = Fake()
    with caplog.at_level(logging.WARNING):
        orphans = handle_orphans(fake, "mine", cancel=False)  # type: ignore[arg-type]
    assert [(o.run_id, len(o.jobs), o.gone) for o in orphans] == [
        ("dead", 2, True),
        ("live", 2, False),
    ]
    assert (
        fake.canceled == []
        and "pass --cancel-orphans" in caplog.text
        and "left alone" in caplog.text
    )
    # one line per run
    assert len([r for r in caplog.records if r.getMessage().startswith("run ")]) == 2
    handle_orphans(fake, "mine", cancel=True)  # type: ignore[arg-type]
    assert fake.canceled == ["d1", "d2"]
