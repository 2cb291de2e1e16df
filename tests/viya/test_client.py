"""viya/_client.py: retries, Retry-After, deadlines, paging of id lists, and submissions of unknown fate
(a lost reply is looked up, never blindly resubmitted).

The fault matrix (tests/faults/test_fault_matrix.py) shows the whole runner surviving each fault;
these pin down the mechanisms, mostly through the transport seam so every
answer is exactly the one wanted, and over real HTTP where time matters.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
import requests
from support.viya_fakes import Recorder, jwt, respond
from support.viya_fakes import seam_client as client

from jes_runner.viya import (
    Credentials,
    RetryPolicy,
    SubmissionLost,
    ViyaClient,
    ViyaHTTPError,
    ViyaUnreachable,
)

BASE = "http://viya.test"
NAME = "cm_pooled_async_1_1700000000"


class FakeViya:
    """Jobs by name; ``post`` decides what each POST does (its argument: the attempt number)."""

    def __init__(self, post: Callable[[int, dict[str, Any]], requests.Response | None]) -> None:
        self.post = post
        self.jobs: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.lookup_status = 200
        self.lock = threading.Lock()

    def create(self, name: str) -> dict[str, Any]:
        with self.lock:
            job = {
                "id": f"id{len(self.jobs)}",
                "state": "running",
                "jobRequest": {"name": name},
                "creationTimeStamp": f"2026-01-01T00:00:{len(self.jobs):02d}.000Z",
            }
            self.jobs.append(job)
            return job

    def __call__(self, req: requests.PreparedRequest) -> requests.Response:
        u = urllib.parse.urlsplit(req.url or "")
        self.calls.append(f"{req.method} {u.path}")
        if u.path.endswith("/oauth/token"):
            return respond(req, 200, {"access_token": jwt()})
        if req.method == "POST":
            body = json.loads(req.body or b"{}")
            answer = self.post(self.calls.count("POST /jobExecution/jobs"), body)
            return answer if answer is not None else respond(req, 201, self.create(body["name"]))
        if req.method == "PUT":
            job_id = u.path.split("/")[-2]
            for j in self.jobs:
                if j["id"] == job_id:
                    j["state"] = "canceled"
            return respond(req, 204)
        if self.lookup_status != 200:
            return respond(req, self.lookup_status, {"message": "lookup broken"})
        flt = urllib.parse.parse_qs(u.query)["filter"][0]
        name = flt.split(",", 1)[1].rstrip(")").strip("'\"")
        with self.lock:
            return respond(
                req, 200, {"items": [j for j in self.jobs if j["jobRequest"]["name"] == name]}
            )

    def count(self, call: str) -> int:
        return self.calls.count(call)


def make_client(fake: FakeViya, **retry: Any) -> ViyaClient:
    policy = RetryPolicy(**{"max_retries": 3, "backoff_s": 0.01, **retry})
    return ViyaClient(BASE, Credentials(username="u", password="p"), handler=fake, retry=policy)


def test_post_created_late_after_a_timeout_is_found_not_resubmitted() -> None:
    """The client waits 0.3 s, times out; the server creates the job 0.15 s later. The lookups go on
    for as long as the failed attempt took, so they see it: no second POST, no duplicate."""
    fake: FakeViya

    def post(attempt: int, body: dict[str, Any]) -> requests.Response | None:
        time.sleep(0.3)  # the request timeout
        threading.Timer(0.15, fake.create, args=(body["name"],)).start()
        raise requests.ReadTimeout("read timed out")

    fake = FakeViya(post)
    job = make_client(fake, backoff_s=0.01).submit_job({"name": NAME, "jobDefinitionUri": "/x"})
    assert job["id"] == "id0"
    assert fake.count("POST /jobExecution/jobs") == 1 and len(fake.jobs) == 1


def test_the_last_attempt_is_looked_up_too() -> None:
    """503 (nothing created) until the last attempt, whose reply is lost: that job exists, use it."""

    def post(attempt: int, body: dict[str, Any]) -> requests.Response | None:
        if attempt < 4:
            raise requests.ConnectionError("connection reset by peer")  # before processing
        fake.create(body["name"])
        raise requests.ConnectionError("connection reset by peer")  # after processing

    fake = FakeViya(post)
    job = make_client(fake, max_retries=3).submit_job({"name": NAME, "jobDefinitionUri": "/x"})
    assert job["id"] == "id0" and fake.count("POST /jobExecution/jobs") == 4


def test_a_duplicate_from_a_slow_creation_is_canceled() -> None:
    """Two jobs of one name (an earlier attempt created late): keep the first, cancel the other."""
    fake: FakeViya

    def post(attempt: int, body: dict[str, Any]) -> requests.Response | None:
        fake.create(body["name"])
        fake.create(body["name"])
        raise requests.ConnectionError("reset")

    fake = FakeViya(post)
    job = make_client(fake).submit_job({"name": NAME, "jobDefinitionUri": "/x"})
    assert job["id"] == "id0"
    assert [j["state"] for j in fake.jobs] == ["running", "canceled"]
    assert fake.count("PUT /jobExecution/jobs/id1/state") == 1


def test_failed_lookups_never_lead_to_a_resubmission() -> None:
    """The lookups keep failing: the job is given up as unconfirmed, never posted blind a second time."""
    fake = FakeViya(lambda attempt, body: (_ for _ in ()).throw(requests.ConnectionError("reset")))
    fake.lookup_status = 500
    with pytest.raises(SubmissionLost, match="unconfirmed"):
        make_client(fake, backoff_max_s=0.02).submit_job({"name": NAME, "jobDefinitionUri": "/x"})
    assert fake.count("POST /jobExecution/jobs") == 1


def test_lookups_ride_out_an_outage_then_resubmit() -> None:
    """Viya answers nothing for 0.5 s after a reset POST: the lookups wait it out, find nothing, and
    only then is the job posted again -- once."""
    fake: FakeViya

    def post(attempt: int, body: dict[str, Any]) -> requests.Response | None:
        if attempt == 1:
            fake.lookup_status = 503
            threading.Timer(0.5, setattr, args=(fake, "lookup_status", 200)).start()
            raise requests.ConnectionError("reset before processing")
        return None

    fake = FakeViya(post)
    job = make_client(fake, backoff_max_s=0.05).submit_job({"name": NAME, "jobDefinitionUri": "/x"})
    assert job["id"] == "id0" and len(fake.jobs) == 1
    assert fake.count("POST /jobExecution/jobs") == 2


def test_a_throttled_post_is_retried_without_a_lookup() -> None:
    fake = FakeViya(lambda attempt, body: None)
    answers = iter([429, 429])
    real = fake.post

    def post(attempt: int, body: dict[str, Any]) -> requests.Response | None:
        status = next(answers, None)
        if status:
            return respond(
                requests.Request("POST", BASE).prepare(), status, {}, {"Retry-After": "0"}
            )
        return real(attempt, body)

    fake.post = post
    job = make_client(fake).submit_job({"name": NAME, "jobDefinitionUri": "/x"})
    assert job["id"] == "id0"
    assert fake.count("POST /jobExecution/jobs") == 3 and fake.count("GET /jobExecution/jobs") == 0


def test_tls_failures_are_not_retried() -> None:
    calls: list[str] = []

    def handler(req: requests.PreparedRequest) -> requests.Response:
        calls.append(req.url or "")
        if "oauth" in (req.url or ""):
            return respond(req, 200, {"access_token": jwt()})
        raise requests.exceptions.SSLError("certificate verify failed")

    c = ViyaClient(
        BASE,
        Credentials(username="u", password="p"),
        handler=handler,
        retry=RetryPolicy(max_retries=4, backoff_s=0.01),
    )
    with pytest.raises(ViyaUnreachable, match="TLS"):
        c.list_contexts()
    assert len(calls) == 2  # the token, then one GET


def test_retry_after_is_honoured_until_the_overall_deadline(make_emulator: Any) -> None:
    """Over real HTTP: every GET answered 429 + Retry-After: 1; waits of 1 s, none past the 2.5 s deadline."""
    emu = make_emulator(
        faults={
            "rules": [
                {"endpoint": "GET /compute/contexts", "throttle_rate": 1.0, "retry_after_s": 1}
            ]
        }
    )
    c = ViyaClient(
        emu.url,
        Credentials(username=emu.username, password=emu.password),
        retry=RetryPolicy(max_retries=10, backoff_s=0.01, deadline_s=2.5),
    )
    t0 = time.monotonic()
    with pytest.raises(ViyaHTTPError) as err:
        c.list_contexts()
    elapsed = time.monotonic() - t0
    assert err.value.status == 429
    assert emu.ground_truth()["requests"]["GET /compute/contexts"] == 3  # at 0, 1 and 2 s
    assert 1.9 < elapsed < 2.6


# -- on the handler seam: retries, lost replies, id paging ---------------------------------


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
