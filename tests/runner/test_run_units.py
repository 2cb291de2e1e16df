"""Unit tests of the runner's parts, without a server: the transport seam stands in for HTTP."""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from support.viya_fakes import jwt, respond

from jes_runner._util import iso, parse_ts
from jes_runner.config.phases import parse_phases, slug
from jes_runner.config.settings import load_settings
from jes_runner.errors import ConfigError, ResultsWriteError
from jes_runner.measure.correlation import name_key, orchestrator_key
from jes_runner.measure.executor import RuntimeModel
from jes_runner.measure.records import JobRecord
from jes_runner.measure.stats import (
    not_comparable_reason,
    peak_nodes,
    percentile,
    phase_stats,
    spans,
    vs_baseline,
)
from jes_runner.results.checkpoint import Checkpoint
from jes_runner.results.files import write_results
from jes_runner.viya import (
    Credentials,
    RetryPolicy,
    SubmissionLost,
    ViyaClient,
    jwt_expiry,
)
from jes_runner.viya._auth import is_invalid_token

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


def client(
    handler: Callable[..., requests.Response], creds: Credentials | None = None, **kw: Any
) -> ViyaClient:
    return ViyaClient(
        BASE,
        creds or Credentials(username="u", password="p"),
        handler=handler,
        retry=RetryPolicy(max_retries=3, backoff_s=0.001),
        sleep=no_sleep,
        **kw,
    )


# -- settings ------------------------------------------------------------------------------


def test_settings_env_secrets_dir_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "password").write_text("from-file\n")
    (secrets / "username").write_text("fileuser")
    monkeypatch.setenv("JES_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("JES_USERNAME", "envuser")
    monkeypatch.setenv(
        "JES_PHASES",
        "- {name: Seq One, context: A, mode: sequential}\n- {name: b, context: B, mode: window, concurrency: 3}",
    )
    s = load_settings(output_dir="out")
    assert s.username == "envuser"  # env beats the secrets dir
    assert s.secret("password") == "from-file"
    assert str(s.output_dir) == "out"  # flag
    assert (
        [p.name for p in s.phases or []] == ["Seq One", "b"] and s.phases and s.phases[0].baseline
    )
    dumped = json.dumps(s.masked())
    assert "from-file" not in dumped and "********" in dumped


def test_settings_dotenv_and_json_phases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JES_CLUSTER", raising=False)
    (tmp_path / ".env").write_text(
        'JES_CLUSTER=aks-prod\nJES_PHASES=[{"name": "x", "context": "C", "mode": "all"}]\n'
    )
    s = load_settings()
    assert s.cluster == "aks-prod" and s.phases and s.phases[0].mode == "all"


def test_settings_missing_secrets_dir_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JES_SECRETS_DIR", str(tmp_path / "nope"))
    assert load_settings().password is None


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"JES_POLL_INTERVAL_MIN": "soon"}, "JES_POLL_INTERVAL_MIN"),
        ({"JES_VIYA_URL": "viya.example.com"}, "JES_VIYA_URL"),
        ({"JES_PHASES": "[{name: a}]"}, "phase 1"),
        ({"JES_LOG_FORMAT": "xml"}, "JES_LOG_FORMAT"),
    ],
)
def test_malformed_settings_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as ei:
        load_settings()
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_packaged_job_config_matches_the_repository_copy() -> None:
    from jes_runner.config.settings import packaged_job_config

    repo = Path(__file__).resolve().parents[2] / "config" / "job_configs.json"
    assert packaged_job_config().read_bytes() == repo.read_bytes()


def test_phase_names_sanitised_and_unique() -> None:
    assert slug("All at once (autoscaling)!") == "all_at_once_autoscaling"
    with pytest.raises(ConfigError):
        parse_phases([{"name": "A b", "context": "x"}, {"name": "a-b", "context": "y"}])


# -- auth ----------------------------------------------------------------------------------


def test_jwt_expiry_and_invalid_token_detection() -> None:
    assert jwt_expiry(jwt(1234)) == 1234
    assert jwt_expiry("opaque") is None
    r = respond(
        requests.Request("GET", BASE).prepare(),
        401,
        {"error": "invalid_token"},
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    assert is_invalid_token(r)
    bad = respond(
        requests.Request("GET", BASE).prepare(),
        401,
        {"error": "unauthorized", "error_description": "Bad credentials"},
    )
    assert not is_invalid_token(bad)


def test_refresh_on_401_retries_once_and_keeps_refresh_token() -> None:
    tokens = iter([jwt(time.time() + 3600), jwt(time.time() + 3600)])
    issued: list[str] = []
    state = {"accepted": None}

    def fn(req: requests.PreparedRequest) -> requests.Response:
        path = urllib.parse.urlsplit(req.url or "").path
        if path == "/SASLogon/oauth/token":
            form = urllib.parse.parse_qs(
                req.body if isinstance(req.body, str) else (req.body or b"").decode()
            )
            assert req.headers["Authorization"].startswith("Basic ")  # client auth, never the form
            assert form["grant_type"] == ["refresh_token"]
            tok = next(tokens)
            state["accepted"] = tok
            return respond(
                req, 200, {"access_token": tok, "token_type": "bearer", "expires_in": 3599}
            )
        if req.headers.get("Authorization") != f"Bearer {state['accepted']}":
            return respond(
                req,
                401,
                {"error": "invalid_token"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return respond(req, 200, {"items": [{"name": "ctx"}], "count": 1})

    h = Recorder(fn)
    creds = Credentials(access_token=jwt(time.time() + 3600), refresh_token="R1")
    c = client(h, creds, on_refresh_token=issued.append)
    assert [x["name"] for x in c.list_contexts()] == ["ctx"]
    assert h.paths() == [
        "GET /compute/contexts",
        "POST /SASLogon/oauth/token",
        "GET /compute/contexts",
    ]
    assert creds.refresh_token == "R1" and issued == []  # none came back: the old one is kept


def test_token_refreshed_before_exp_and_new_refresh_token_hooked() -> None:
    issued: list[str] = []

    def fn(req: requests.PreparedRequest) -> requests.Response:
        if "oauth/token" in (req.url or ""):
            return respond(
                req, 200, {"access_token": jwt(time.time() + 3600), "refresh_token": "R2"}
            )
        return respond(req, 200, {"items": [], "count": 0})

    h = Recorder(fn)
    creds = Credentials(
        access_token=jwt(time.time() + 5), refresh_token="R1"
    )  # inside the refresh margin
    c = client(h, creds, on_refresh_token=issued.append)
    c.list_contexts()
    assert h.paths()[0] == "POST /SASLogon/oauth/token"
    assert issued == ["R2"] and creds.refresh_token == "R2"


def test_bad_credentials_message_has_no_secret() -> None:
    def fn(req: requests.PreparedRequest) -> requests.Response:
        return respond(req, 401, {"error": "unauthorized", "error_description": "Bad credentials"})

    c = client(Recorder(fn), Credentials(username="alice", password="s3cr3t-pw"))
    with pytest.raises(Exception) as ei:
        c.authenticate()
    assert "Bad credentials" in str(ei.value) and "s3cr3t-pw" not in str(ei.value)


# -- retries and submission ----------------------------------------------------------------


def _authed(
    fn: Callable[[requests.PreparedRequest], requests.Response],
) -> Callable[[requests.PreparedRequest], requests.Response]:
    def wrapped(req: requests.PreparedRequest) -> requests.Response:
        if "oauth/token" in (req.url or ""):
            return respond(req, 200, {"access_token": jwt(time.time() + 3600)})
        return fn(req)

    return wrapped


def test_get_retried_on_503_and_429_with_retry_after() -> None:
    answers = iter(
        [(503, None, {}), (429, None, {"Retry-After": "0"}), (200, {"items": [], "count": 0}, {})]
    )
    slept: list[float] = []

    def fn(req: requests.PreparedRequest) -> requests.Response:
        st, body, hd = next(answers)
        return respond(req, st, body, hd)

    c = ViyaClient(
        BASE,
        Credentials(username="u", password="p"),
        handler=Recorder(_authed(fn)),
        retry=RetryPolicy(max_retries=3, backoff_s=0.01),
        sleep=slept.append,
    )
    assert c.list_contexts() == []
    assert len(slept) == 2 and slept[1] == 0.0  # Retry-After honoured


def test_lost_submission_reply_is_looked_up_not_duplicated() -> None:
    created: list[dict[str, Any]] = []

    def fn(req: requests.PreparedRequest) -> requests.Response:
        u = urllib.parse.urlsplit(req.url or "")
        if req.method == "POST":
            body = json.loads(req.body or b"{}")
            created.append(
                {
                    "id": f"id{len(created)}",
                    "state": "running",
                    "jobRequest": {"name": body["name"]},
                }
            )
            raise requests.ConnectionError("connection reset by peer")  # processed, reply lost
        q = urllib.parse.parse_qs(u.query)
        name = q["filter"][0].split(",", 1)[1].rstrip(")").strip("'\"")
        return respond(req, 200, {"items": [j for j in created if j["jobRequest"]["name"] == name]})

    h = Recorder(_authed(fn))
    job = client(h).submit_job({"name": "cm_pooled_async_1_1700000000", "jobDefinitionUri": "/x"})
    assert job["id"] == "id0" and len(created) == 1
    assert h.paths().count("POST /jobExecution/jobs") == 1


def test_submission_gives_up_cleanly_when_nothing_is_created() -> None:
    def fn(req: requests.PreparedRequest) -> requests.Response:
        if req.method == "POST":
            return respond(req, 503, {"message": "busy"})
        return respond(req, 200, {"items": []})

    with pytest.raises(SubmissionLost):
        client(Recorder(_authed(fn))).submit_job({"name": "x_p_1_1", "jobDefinitionUri": "/x"})


def test_polling_lists_at_most_100_ids_per_request() -> None:
    def fn(req: requests.PreparedRequest) -> requests.Response:
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.url or "").query)
        flt = q["filter"][0]
        assert flt.startswith("in(id,")
        ids = [x.strip('"') for x in flt[6:-1].split(",")]
        assert len(ids) <= 100
        return respond(req, 200, {"items": [{"id": i, "state": "running"} for i in ids]})

    h = Recorder(_authed(fn))
    jobs = client(h).get_jobs([f"j{i}" for i in range(250)])
    assert len(jobs) == 250 and h.paths().count("GET /jobExecution/jobs") == 3


# -- correlation, comparison, model ---------------------------------------------------------


def test_orchestrator_name_rule() -> None:
    key = orchestrator_key("cm_pooled_async_12_1757476678")
    assert key == "cmpooledasync121757476678"
    assert name_key(f"{key}-8c1e3d4f-1a2b-4c3d-9e8f-0123456789ab") == key
    assert name_key("sas-compute-server-abc") is None


def _rec(
    i: int, start: float, end: float, host: str | None = None, status: str = "completed"
) -> JobRecord:
    t0 = datetime(2025, 9, 15, 19, 0, tzinfo=UTC)
    r = JobRecord(
        name=f"j{i}",
        unique_job_name=f"j{i}_p_{i}_1",
        phase="p",
        context="c",
        sequence=i,
        job_instance_id=str(i),
        status=status,
        submitted_at=t0 + timedelta(seconds=start),
        ended_at=t0 + timedelta(seconds=end),
    )
    if host:
        r.orchestrator = {"execution_host": host, "queue_wait_seconds": start / 10}
    return r


def test_phase_stats_and_baseline_figures() -> None:
    recs = [
        _rec(1, 0, 10, "a"),
        _rec(2, 0, 20, "b"),
        _rec(3, 10, 30, "a"),
        _rec(4, 31, 32, None, "failed"),
    ]
    s = phase_stats(recs)
    assert s["makespan_seconds"] == 32 and s["jobs_completed"] == 3 and s["jobs_failed"] == 1
    assert (
        s["duration_max_seconds"] == 20
        and s["hosts_used"] == 2
        and s["jobs_per_host"] == {"a": 2, "b": 1}
    )
    assert s["sum_run_seconds"] == 51 and s["concurrency_achieved"] == round(51 / 32, 3)
    assert s["peak_nodes"] == 2
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert (
        s["busy_makespan_seconds"] == 31 and s["idle_seconds"] == 1
    )  # 30 s -> 31 s: nothing on the server
    assert s["jobs_planned"] == s["jobs_submitted"] == 4
    base = [_rec(i, 10 * (i - 1), 10 * i) for i in range(1, 5)]  # sequential, back to back
    cur = [_rec(1, 0, 10), _rec(2, 0, 10), _rec(3, 2, 12), _rec(4, 0, 5, status="failed")]
    vb = vs_baseline(spans(base), spans(cur), reason=not_comparable_reason("p", spans(cur), False))
    assert (
        vb is not None
        and vb["jobs_compared"] == 3
        and vb["comparable"] is False
        and "1 failed" in vb["reason"]
    )
    # over j1..j3 only: 30 s sequential against 12 s; busy the same here (no idle gaps)
    assert (
        vb["baseline_makespan_seconds"] == 30
        and vb["makespan_seconds"] == 12
        and vb["speedup"] == 2.5
    )
    assert (
        vb["busy_speedup"] == 2.5
        and vb["time_saved_seconds"] == 18
        and vb["efficiency_gain_percent"] == 60.0
    )
    ok = vs_baseline(spans(base), spans(cur[:3]))
    assert ok is not None and ok["comparable"] is True and ok["reason"] is None
    assert (
        phase_stats([_rec(1, 0, 10)])["hosts_used"] is None
    )  # no orchestrator data: unknown, not 0
    assert (
        peak_nodes([_rec(1, 0, 10, "a"), _rec(2, 10, 20, "b")]) == 1
    )  # back to back is not concurrent


def test_runtime_model_learns_the_speed() -> None:
    m = RuntimeModel()
    assert m.estimate(50) is None
    for exp in (50, 100, 20):
        m.observe(exp, exp * 0.005)
    assert m.estimate(200) == pytest.approx(1.0)
    assert RuntimeModel(prior_factor=0.01).estimate(10) == pytest.approx(0.1)


# -- results ---------------------------------------------------------------------------------


def test_results_atomic_write_and_unwritable_dir(tmp_path: Path) -> None:
    res = {"run_id": "12345678-aaaa", "x": 1}
    p = write_results(tmp_path, res, datetime(2025, 9, 15, 17, 17, 47))
    assert (
        p.name == "pooled_jobs_comparison_20250915_171747.json" and json.loads(p.read_text()) == res
    )
    p2 = write_results(tmp_path, res, datetime(2025, 9, 15, 17, 17, 47))
    assert p2 != p and p2.exists()
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
    # a regular file where the directory should be: unwritable even for root
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    with pytest.raises(ResultsWriteError) as ei:
        write_results(blocker / "results", res, datetime.now())
    assert "\n" not in str(ei.value) and "cannot write results file" in str(ei.value)
    cp = Checkpoint(blocker / "results", "r")
    assert not cp.open() and cp.error
    cp.append({"ignored": True})  # never raises


def test_timestamps_round_trip() -> None:
    dt = parse_ts("2025-09-15T19:42:30.279Z")
    assert dt is not None and iso(dt) == "2025-09-15T19:42:30.279Z"
    assert parse_ts("garbage") is None
