"""ViyaClient: the only code that speaks HTTP to Viya."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from jes_runner._util import strip_userinfo
from jes_runner.viya._auth import BearerAuth, Credentials
from jes_runner.viya._errors import (
    AuthError,
    SubmissionLost,
    ViyaError,
    ViyaHTTPError,
    ViyaUnreachable,
)
from jes_runner.viya._outage import OutageClock
from jes_runner.viya._retry import RETRY_STATUSES, RetryPolicy
from jes_runner.viya._transport import (
    Handler,
    RequestsTransport,
    body_truncated,
    describe_transport_error,
)

JSON = "application/json"
JOB_REQUEST = "application/vnd.sas.job.execution.job.request+json"
JOB = "application/vnd.sas.job.execution.job+json"
IDS_PER_LIST = 100  # ids per in(id,...) filter: keeps URLs well under common 8 KB limits
SETTLE_LOOKUPS = 8  # answered lookups at most for one submission of unknown fate
LOG_TAIL_BYTES = 8192  # a failed job's log: its last 8 KB is where SAS writes the ERROR lines
LOG_RANGE_BYTES = 4 * LOG_TAIL_BYTES  # asked with Range: a server that honours it sends only this
LOG_DEADLINE_S = 15.0
# until Viya has answered once, a silent server must not hold a run or `check` for minutes: each
# attempt gets this long, and all of them together FIRST_CONTACT_DEADLINE_S (then: unreachable)
FIRST_CONTACT_TIMEOUT_S = 10.0
FIRST_CONTACT_DEADLINE_S = 20.0
# failed lookups (each already retried) before the job is given up as unconfirmed
SETTLE_FAILURES = 12

log = logging.getLogger("jes_runner.viya")

# jes-runner's marks on every job it submits: who (createdByApplication) and which run (a property)
APPLICATION = "jes-runner"
RUN_ID_PROPERTY = "jes_runner_run_id"
PHASE_PROPERTY = "jes_runner_phase"
TIMEOUT_PROPERTY = "jes_runner_job_timeout_s"  # the run cancels the job itself after this long
DEFINITIONS_PATH = "/jobDefinitions/definitions"
CONTEXT_ARGUMENT = "_contextName"  # the job request argument naming the compute context


def job_request(
    *,
    name: str,
    definition_id: str,
    context: str,
    arguments: dict[str, str],
    run_id: str,
    phase: str,
    job_timeout_s: float,
) -> dict[str, Any]:
    """The one job-request body jes-runner posts: the definition, the context, and the run's marks
    -- which run and phase, and when that run gives up on the job (orphan detection); Viya's
    shape for properties is a list of name/value pairs."""
    return {
        "jobDefinitionUri": f"{DEFINITIONS_PATH}/{definition_id}",
        "name": name,
        "description": f"jes-runner run {run_id} phase {phase}",
        "arguments": {**arguments, CONTEXT_ARGUMENT: context},
        "createdByApplication": APPLICATION,
        "properties": [
            {"name": RUN_ID_PROPERTY, "value": run_id},
            {"name": PHASE_PROPERTY, "value": phase},
            {"name": TIMEOUT_PROPERTY, "value": f"{job_timeout_s:g}"},
        ],
    }


ACTIVE_STATES = ("pending", "running")
# jes-runner's emulator names itself on every answer (``speed_factor=<f>; scenario=<name>``): a run pointed
# at it by URL is labelled emulated, its figures read in the modelled cluster's seconds
EMULATOR_HEADER = "X-Jes-Emulator"


def parse_emulator_header(value: str | None) -> dict[str, Any] | None:
    """``{"scenario", "speed_factor"}`` from an ``X-Jes-Emulator`` value (None: absent or malformed)."""
    if not value:
        return None
    fields = dict(
        (k.strip(), v.strip())
        for part in value.split(";")
        if "=" in part
        for k, v in [part.split("=", 1)]
    )
    try:
        speed = float(fields["speed_factor"])
    except (KeyError, ValueError):
        return None
    if not speed > 0:
        return None
    return {"scenario": fields.get("scenario") or None, "speed_factor": speed}


def job_property(job: dict[str, Any], name: str) -> str | None:
    """A property of a job's request (a map, or a list of ``{name, value}`` pairs as some Viya
    releases return them)."""
    props = (job.get("jobRequest") or {}).get("properties")
    if isinstance(props, dict):
        value = props.get(name)
    elif isinstance(props, list):
        value = next(
            (p.get("value") for p in props if isinstance(p, dict) and p.get("name") == name), None
        )
    else:
        value = None
    return str(value) if value not in (None, "") else None


def job_run_id(job: dict[str, Any]) -> str | None:
    """The jes-runner run id a job carries; None for anyone else's job."""
    return job_property(job, RUN_ID_PROPERTY)


def quote(value: str, mark: str = '"') -> str:
    """A filter-language string literal; switch quote marks when the value holds the preferred one."""
    if mark in value:
        mark = "'" if mark == '"' else '"'
    return mark + value + mark


def _error_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return (
            (resp.text or resp.reason or "").strip().splitlines()[0][:200]
            if (resp.text or resp.reason)
            else ""
        )
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_description") or body.get("error") or "")[
            :300
        ]
    return ""


class ViyaClient:
    """Thread-safe for concurrent submissions; one instance per run."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        handler: Handler | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        verify: bool | str = True,
        on_refresh_token: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # credentials never travel in (or get shown with) the URL: the auth flow sends a bearer token
        self.base_url = strip_userinfo(base_url.rstrip("/"))
        self._transport = (
            handler if handler is not None else RequestsTransport(timeout=timeout, verify=verify)
        )
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._lock = threading.Lock()
        self.requests_by_kind: Counter[str] = Counter()
        self.answered = 0  # HTTP answers received (any status): Viya is reachable once this is > 0
        self._first_contact: float | None = None  # monotonic time of the first attempt
        # the Date header of the latest answer: the server's clock
        self.server_date: str | None = None
        # the X-Jes-Emulator header of an answer: this "Viya" is jes-runner's emulator (see emulator_model)
        self.emulator_header: str | None = None
        self.outage = OutageClock()  # time Viya answered with errors (a phase's share judges it)
        self.auth = BearerAuth(
            self.base_url,
            self._counted,
            credentials,
            on_refresh_token=on_refresh_token,
            retry=self.retry,
            sleep=sleep,
        )

    @property
    def emulator_model(self) -> dict[str, Any] | None:
        """``{"scenario", "speed_factor"}`` when an answer came from jes-runner's emulator, else None."""
        return parse_emulator_header(self.emulator_header)

    # -- plumbing --------------------------------------------------------------

    @property
    def request_count(self) -> int:
        return sum(self.requests_by_kind.values())

    def _counted(self, request: requests.PreparedRequest) -> requests.Response:
        path = (request.path_url or "/").split("?")[0]
        parts = [p for p in path.split("/") if p][:2]
        with self._lock:
            self.requests_by_kind[f"{request.method} /{'/'.join(parts)}"] += 1
        if not self.answered:
            self._bound_first_contact(request)
        resp = self._transport(request)
        with self._lock:
            self.answered += 1
        return resp

    def _bound_first_contact(self, request: requests.PreparedRequest) -> None:
        """Before any answer: a short per-attempt timeout, and none at all past the deadline."""
        now = time.monotonic()
        if self._first_contact is None:
            self._first_contact = now
        left = self._first_contact + FIRST_CONTACT_DEADLINE_S - now
        if left <= 0:
            raise requests.exceptions.ConnectTimeout(
                f"no answer within {FIRST_CONTACT_DEADLINE_S:g} s"
            )
        request.jes_timeout = min(FIRST_CONTACT_TIMEOUT_S, left)  # type: ignore[attr-defined]

    def ping(self) -> None:
        """One unauthenticated request: returns once the server answered anything at all, raises
        :class:`ViyaUnreachable` otherwise (``check`` says "reachable" only after an answer)."""
        prep = requests.Request("GET", self.base_url + "/SASLogon/").prepare()
        try:
            self._counted(prep)
        except requests.RequestException as e:
            raise ViyaUnreachable(
                f"cannot reach Viya at {self.base_url} ({describe_transport_error(e)})"
            ) from None

    def _send_once(self, request: requests.PreparedRequest) -> requests.Response:
        flow = self.auth.flow(request)
        req = next(flow)
        while True:
            resp = self._counted(req)
            if resp.headers.get("Date"):
                self.server_date = resp.headers["Date"]
            if resp.headers.get(EMULATOR_HEADER):
                self.emulator_header = resp.headers[EMULATOR_HEADER]
            try:
                req = flow.send(resp)
            except StopIteration:
                return resp

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str = JSON,
        accept: str = JSON,
        retry: bool = True,
        raise_for_status: bool = True,
        deadline: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """One logical request: retried on connection errors and 429/5xx with backoff and jitter
        (``Retry-After`` honoured), never past ``deadline`` (``time.monotonic()``; default: now +
        ``retry.deadline_s``). A retry whose wait would end after the deadline is not made."""
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        headers = {"Accept": accept, **(headers or {})}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        attempts = 1 + (self.retry.max_retries if retry else 0)
        if deadline is None:
            deadline = time.monotonic() + self.retry.deadline_s
        for attempt in range(1, attempts + 1):
            prep = requests.Request(
                method, url, params=params, data=data, headers=headers
            ).prepare()
            try:
                resp = self._send_once(prep)
            except requests.RequestException as e:
                self.outage.failed()
                wait = self.retry.delay(attempt)
                # a certificate problem does not heal by waiting: fail at once
                if (
                    attempt < attempts
                    and not isinstance(e, requests.exceptions.SSLError)
                    and time.monotonic() + wait <= deadline
                ):
                    self._sleep(wait)
                    continue
                raise ViyaUnreachable(
                    f"cannot reach Viya at {self.base_url} ({describe_transport_error(e)})"
                ) from None
            if resp.status_code in RETRY_STATUSES:
                self.outage.failed()
            else:
                self.outage.answered()
            if resp.status_code in RETRY_STATUSES and attempt < attempts:
                wait = self.retry.delay(attempt, resp.headers.get("Retry-After"))
                if time.monotonic() + wait <= deadline:
                    self._sleep(wait)
                    continue
            if resp.status_code == 401:
                raise AuthError(
                    f"Viya refused the access token on {method} {path.split('?')[0]} "
                    f"even after a refresh ({_error_message(resp) or 'HTTP 401'})"
                )
            if raise_for_status and resp.status_code >= 400:
                raise ViyaHTTPError(
                    resp.status_code, method, path.split("?")[0], _error_message(resp)
                )
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def get_json(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        retry: bool = True,
        deadline: float | None = None,
    ) -> Any:
        resp = self.request("GET", path, params=params, retry=retry, deadline=deadline)
        if body_truncated(resp):
            raise ViyaError(f"GET {path}: answer too large (over {len(resp.content)} bytes)")
        try:
            return resp.json()
        except ValueError:
            self.outage.failed()
            raise ViyaError(f"GET {path}: answer is not JSON") from None

    def iter_collection(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        limit: int = 1000,
        deadline: float | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of a `application/vnd.sas.collection` (follows `next`, or start/count)."""
        query = dict(params or {})
        query["limit"] = limit
        start = int(query.pop("start", 0))
        while True:
            page = self.get_json(path, {**query, "start": start}, deadline=deadline)
            items = page.get("items") or [] if isinstance(page, dict) else []
            if not items:
                return
            yield items
            start += len(items)
            links = page.get("links")
            if (
                isinstance(links, list)
                and links
                and not any(isinstance(ln, dict) and ln.get("rel") == "next" for ln in links)
            ):
                return
            count = page.get("count")
            if isinstance(count, int) and count >= 0 and start >= count:
                return

    def server_now(self) -> datetime | None:
        """The server's clock at its latest answer (HTTP ``Date``, second precision), if it sent one."""
        if not self.server_date:
            return None
        try:
            return parsedate_to_datetime(self.server_date)
        except (TypeError, ValueError, IndexError):
            return None

    def close(self) -> None:
        close = getattr(self._transport, "close", None)
        if close:
            close()

    # -- preflight ---------------------------------------------------------------

    def authenticate(self) -> None:
        self.auth.authenticate()

    def list_contexts(self) -> list[dict[str, Any]]:
        return [
            item for page in self.iter_collection("/compute/contexts", limit=1000) for item in page
        ]

    def list_job_definitions(self, filter_expr: str | None = None) -> list[dict[str, Any]]:
        params = {"filter": filter_expr} if filter_expr else {}
        return [
            item
            for page in self.iter_collection(DEFINITIONS_PATH, params, limit=1000)
            for item in page
        ]

    def definition_exists(self, definition_id: str) -> bool:
        """Is the job definition still there (a 404 says it is gone)?"""
        resp = self.request("GET", f"{DEFINITIONS_PATH}/{definition_id}", raise_for_status=False)
        if resp.status_code == 404:
            return False
        if resp.status_code >= 400:
            raise ViyaHTTPError(
                resp.status_code, "GET", f"{DEFINITIONS_PATH}/{{id}}", _error_message(resp)
            )
        return True

    # -- jobs ------------------------------------------------------------------

    def find_jobs_by_name(self, name: str) -> list[dict[str, Any]]:
        page = self.get_json(
            "/jobExecution/jobs",
            {"filter": "eq(name," + quote(name, "'") + ")", "limit": 10, "start": 0},
        )
        items = page.get("items") or []
        # the filter should be exact already; checking again costs nothing
        return [j for j in items if (j.get("jobRequest") or {}).get("name") == name]

    def submit_job(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST a job request, never twice.

        When a POST's outcome is unknown (reply lost, timeout, reset, 5xx, an answer without an
        id) the job is looked up by its unique name before a resubmission -- for at least as
        long as the failed attempt took, because a server that let the client time out may still
        be creating it. A 429 is a refusal: retried after ``Retry-After``, nothing to look up.
        """
        name = body["name"]
        run_id = job_property({"jobRequest": body}, RUN_ID_PROPERTY)  # a map or name/value pairs
        attempts = 1 + self.retry.max_retries
        deadline = time.monotonic() + self.retry.deadline_s
        last = ""
        unsure = False  # some attempt may have created the job
        attempt = 0
        for attempt in range(1, attempts + 1):
            sent = time.monotonic()
            try:
                resp = self.request(
                    "POST",
                    "/jobExecution/jobs",
                    body=body,
                    content_type=JOB_REQUEST,
                    accept=JOB,
                    retry=False,
                    raise_for_status=False,
                    deadline=deadline,
                )
            except ViyaUnreachable as e:
                last = str(e)
            else:
                if resp.status_code in (200, 201):
                    try:
                        created = resp.json()
                    except ValueError:
                        created = None
                    if isinstance(created, dict) and created.get("id"):
                        return created
                    last = "submission answer is not a job"
                elif resp.status_code == 429:  # refused, so certainly not created
                    last = "HTTP 429"
                    wait = self.retry.delay(attempt, resp.headers.get("Retry-After"))
                    if attempt < attempts and time.monotonic() + wait <= deadline:
                        self._sleep(wait)
                        continue
                    break
                elif resp.status_code in RETRY_STATUSES:
                    last = f"HTTP {resp.status_code} {_error_message(resp)}".strip()
                else:
                    raise ViyaHTTPError(
                        resp.status_code, "POST", "/jobExecution/jobs", _error_message(resp)
                    )
            unsure = True
            found = self._settle(
                name,
                attempt,
                max(time.monotonic() - sent, self.retry.backoff_s),
                deadline,
                last,
                run_id,
            )
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                break
        if unsure and attempt > 1:  # a late creation by an earlier attempt: one last look
            found = self._settle(name, attempt, 0.0, deadline, last, run_id)
            if found is not None:
                return found
        raise SubmissionLost(f"could not submit {name} after {attempt} attempt(s) ({last})")

    def _settle(
        self,
        name: str,
        attempt: int,
        window: float,
        deadline: float,
        last: str,
        run_id: str | None = None,
    ) -> dict[str, Any] | None:
        """Look up a job of unknown fate by name, at backoff intervals, until ``window`` s have passed
        (at least once). None: it does not exist; SubmissionLost: the lookups themselves failed.
        With ``run_id``, a job carrying another run's id never counts: another run's job is never adopted."""
        until = time.monotonic() + window
        lookups = failures = 0
        n = attempt
        while True:
            self._sleep(max(0.0, min(self.retry.delay(n), deadline - time.monotonic())))
            n += 1
            try:
                found = self.find_jobs_by_name(name)
            except ViyaError as e:
                # unknown still: keep asking (Viya may be restarting); resubmitting blind could run it twice
                failures += 1
                if failures >= SETTLE_FAILURES or time.monotonic() >= deadline:
                    raise SubmissionLost(
                        f"submission of {name} unconfirmed ({last}) and lookup failed ({e})"
                    ) from None
                continue
            if run_id is not None:
                # another run's job (its mark says so) is never adopted nor canceled; a job without the
                # mark (a Viya that does not echo properties) is ours by name: the name holds the run token
                foreign = [j for j in found if job_run_id(j) not in (None, run_id)]
                if foreign:
                    log.warning(
                        "job name %s is also used by %d job(s) of another run; left alone",
                        name,
                        len(foreign),
                    )
                found = [j for j in found if j not in foreign]
            if found:
                return self._keep_one(name, found)
            lookups += 1
            now = time.monotonic()
            if now >= until or now >= deadline or lookups >= SETTLE_LOOKUPS:
                return None

    def _keep_one(self, name: str, found: list[dict[str, Any]]) -> dict[str, Any]:
        """The first-created job of that name; any later one (a retry racing a slow creation) is canceled.
        ``found`` holds only this run's jobs (``_settle`` filters by run id): never cancel another run's."""
        if len(found) == 1:
            return found[0]
        ordered = sorted(found, key=lambda j: str(j.get("creationTimeStamp") or ""))
        for extra in ordered[1:]:
            try:
                self.cancel_job(str(extra.get("id")))
            except ViyaError as e:
                log.warning(
                    "job %s exists %d times; canceling duplicate %s failed: %s",
                    name,
                    len(found),
                    extra.get("id"),
                    e,
                )
            else:
                log.warning(
                    "job %s exists %d times (a slow creation raced a retry); canceled duplicate %s",
                    name,
                    len(found),
                    extra.get("id"),
                )
        return ordered[0]

    def list_marked_jobs(self, states: Sequence[str] = ACTIVE_STATES) -> list[dict[str, Any]]:
        """Jobs in ``states`` that carry jes-runner's marks (the application and a run id), any run."""
        flt = (
            "and(eq(submittedByApplication,"
            + quote(APPLICATION, "'")
            + "),in(state,"
            + ",".join(quote(s, "'") for s in states)
            + "))"
        )
        jobs = [
            j
            for page in self.iter_collection("/jobExecution/jobs", {"filter": flt}, limit=1000)
            for j in page
        ]
        # the filter narrows; the marks decide (a server that ignores part of a filter must not widen this)
        return [j for j in jobs if job_run_id(j) and j.get("state") in states]

    def get_jobs(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Full job objects for many ids, ≤100 ids per list request."""
        out: list[dict[str, Any]] = []
        for i in range(0, len(ids), IDS_PER_LIST):
            chunk = ids[i : i + IDS_PER_LIST]
            flt = "in(id," + ",".join(quote(x) for x in chunk) + ")"
            page = self.get_json(
                "/jobExecution/jobs", {"filter": flt, "start": 0, "limit": len(chunk)}
            )
            out.extend(page.get("items") or [])
        return out

    def get_job(self, job_id: str) -> dict[str, Any] | None:
        resp = self.request(
            "GET", f"/jobExecution/jobs/{job_id}", accept=JOB, raise_for_status=False
        )
        if resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise ViyaHTTPError(
                resp.status_code, "GET", "/jobExecution/jobs/{id}", _error_message(resp)
            )
        job: dict[str, Any] = resp.json()
        return job

    def get_log_tail(self, job: dict[str, Any], max_bytes: int = LOG_TAIL_BYTES) -> str | None:
        """The last ``max_bytes`` of a job's log (whole lines), None when the job has no log.

        The log is the file its ``log`` link or ``logLocation`` names
        (``/files/files/{id}``); its text is at ``.../content``."""
        href = next(
            (
                ln.get("href")
                for ln in job.get("links") or []
                if isinstance(ln, dict) and ln.get("rel") == "log"
            ),
            None,
        ) or job.get("logLocation")
        if not isinstance(href, str) or not href.startswith("/files/files/"):
            return None
        path = href if href.endswith("/content") else href.rstrip("/") + "/content"
        # only the tail: Range where the server honours it; otherwise the body is streamed and
        # only its last bytes are held (the transport's cap), never the whole log
        resp = self.request(
            "GET",
            path,
            accept="text/plain",
            raise_for_status=False,
            deadline=time.monotonic() + LOG_DEADLINE_S,
            headers={"Range": f"bytes=-{LOG_RANGE_BYTES}"},
        )
        if resp.status_code in (404, 416):  # no log, or an empty one
            return None
        if resp.status_code >= 400:
            raise ViyaHTTPError(
                resp.status_code, "GET", "/files/files/{id}/content", _error_message(resp)
            )
        data = resp.content[-max_bytes:]
        if (len(resp.content) > max_bytes or resp.status_code == 206) and b"\n" in data:
            data = data[data.index(b"\n") + 1 :]  # start at a whole line
        return data.decode("utf-8", "replace")

    def cancel_job(self, job_id: str) -> bool:
        """Ask Viya to cancel; False when the job had already finished (405/409)."""
        resp = self.request(
            "PUT",
            f"/jobExecution/jobs/{job_id}/state",
            params={"value": "canceled"},
            accept="text/plain",
            raise_for_status=False,
        )
        if resp.status_code in (200, 202, 204):
            return True
        if resp.status_code in (404, 405, 409):
            return False
        raise ViyaHTTPError(
            resp.status_code, "PUT", "/jobExecution/jobs/{id}/state", _error_message(resp)
        )

    # -- workload orchestrator ---------------------------------------------------

    def orchestrator_pages(
        self, limit: int = 500, *, deadline: float | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Newest first; the caller stops when items get older than it cares about."""
        return self.iter_collection(
            "/workloadOrchestrator/jobs",
            {"sortBy": "submitTime:descending"},
            limit=limit,
            deadline=deadline,
        )
