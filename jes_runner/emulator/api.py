"""Endpoint functions and the route table (method + path template -> function).

Each function takes the :class:`Emulator` and a :class:`Request` and returns a
:class:`Response` whose body is a Python object (encoded by the server outside
the lock) or text. Routes marked ``model`` run with the emulator lock held and
the model advanced to now; ``auth`` routes need a valid bearer token.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from jes_runner.emulator.clock import http_date
from jes_runner.emulator.envelope import QueryError, envelope, link, select
from jes_runner.emulator.http import ApiError, Request, Response
from jes_runner.emulator.views import (
    CONTEXT_SUMMARY_TYPE,
    CONTEXT_TYPE,
    DEFINITION_TYPE,
    HOST_TYPE,
    JOB_TYPE,
    ORCH_JOB_TYPE,
    QUEUE_TYPE,
    etag,
)
from jes_runner.errors import ConfigError

if TYPE_CHECKING:
    from jes_runner.emulator.app import Emulator
    from jes_runner.emulator.catalog import Context, Definition

DEFAULT_CONTEXT = "SAS Job Execution compute context"


def _ctype(req: Request, vendor: str) -> str:
    """The vendor type unless the client asked only for plain JSON."""
    accept = req.headers.get("Accept") or ""
    if "application/json" in accept and vendor not in accept:
        return "application/json"
    return vendor + "+json"


def _resource(
    req: Request,
    vendor: str,
    body: dict[str, Any],
    tag: str,
    modified_epoch: float,
    status: int = 200,
) -> Response:
    headers = {"ETag": tag, "Last-Modified": http_date(modified_epoch)}
    if req.method == "GET" and req.headers.get("If-None-Match") == tag:
        return Response(304, None, _ctype(req, vendor), headers)
    return Response(status, body, _ctype(req, vendor), headers)


def _collection(
    app: Emulator,
    req: Request,
    name: str,
    rows: list[Any],
    fields: Callable[[Any], Any],
    render: Callable[[Any], Any],
    item_type: str,
    default_sort: str | None = None,
    extra: list[dict[str, str]] | None = None,
) -> Response:
    try:
        page, start, limit, count = select(rows, req.query, fields, default_sort)
    except QueryError as e:
        raise ApiError(400, str(e)) from None
    doc = envelope(
        name, [render(r) for r in page], start, limit, count, req.path, req.query, item_type, extra
    )
    return Response(200, doc, _ctype(req, "application/vnd.sas.collection"))


# ----- SASLogon -----------------------------------------------------------------


def token(app: Emulator, req: Request) -> Response:
    form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    basic = None
    auth = req.headers.get("Authorization") or ""
    if auth.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            basic = (cid, secret)
        except (binascii.Error, UnicodeDecodeError):
            return Response(401, {"error": "unauthorized", "error_description": "Bad credentials"})
    status, body = app.tokens.token(form, basic)
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    return Response(status, body, "application/json;charset=UTF-8", headers)


def authorize(app: Emulator, req: Request) -> Response:
    status, headers, body = app.tokens.authorize(req.query)
    ctype = headers.pop("Content-Type", "text/plain")
    return Response(status, body, ctype, headers)


# ----- catalog --------------------------------------------------------------------


def list_definitions(app: Emulator, req: Request) -> Response:
    defs = app.catalog.definitions

    def fields(d: Definition) -> Callable[[str], Any]:
        return {"id": d.id, "name": d.name, "description": d.description, "type": "Compute"}.get

    return _collection(app, req, "definitions", defs, fields, app.views.definition, DEFINITION_TYPE)


def get_definition(app: Emulator, req: Request) -> Response:
    d = app.catalog.definition_by_id.get(req.params["id"])
    if d is None:
        raise ApiError(404, f"The job definition with id '{req.params['id']}' was not found.")
    return _resource(
        req, DEFINITION_TYPE, app.views.definition(d), etag(d.id), app.timeline.epoch(0.0)
    )


def list_contexts(app: Emulator, req: Request) -> Response:
    def fields(c: Context) -> Callable[[str], Any]:
        return {"id": c.id, "name": c.name, "createdBy": "sasboot", "queueName": c.queue}.get

    return _collection(
        app,
        req,
        "items",
        app.catalog.contexts,
        fields,
        app.views.context_summary,
        CONTEXT_SUMMARY_TYPE,
    )


def get_context(app: Emulator, req: Request) -> Response:
    c = app.catalog.context_by_id.get(req.params["id"])
    if c is None:
        raise ApiError(404, f"The compute context with id '{req.params['id']}' was not found.")
    return _resource(req, CONTEXT_TYPE, app.views.context(c), etag(c.id), app.timeline.epoch(0.0))


# ----- Job Execution --------------------------------------------------------------


def submit_job(app: Emulator, req: Request) -> Response:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The job request must be a JSON object.")
    uri = body.get("jobDefinitionUri")
    inline = body.get("jobDefinition")
    definition = None
    def_name: str | None
    if uri:
        definition = app.catalog.definition_by_id.get(str(uri).rstrip("/").rsplit("/", 1)[-1])
        if definition is None or not str(uri).startswith("/jobDefinitions/definitions/"):
            raise ApiError(
                400,
                f"The job definition '{uri}' was not found.",
                ["jobDefinitionUri must name an existing /jobDefinitions/definitions/{id}"],
            )
        code, def_name = definition.code, definition.name
        def_doc: dict[str, Any] = {
            "id": definition.id,
            "name": definition.name,
            "type": "Compute",
            "code": definition.code,
        }
    elif isinstance(inline, dict):
        if inline.get("type", "Compute") != "Compute":
            raise ApiError(
                400,
                f"The job definition type '{inline.get('type')}' is not supported (only Compute).",
            )
        code, def_name = str(inline.get("code", "")), inline.get("name")
        def_doc = inline
    else:
        raise ApiError(400, "The job request needs a jobDefinitionUri or a jobDefinition.")
    args = body.get("arguments") or {}
    if not isinstance(args, dict):
        raise ApiError(400, "The job request's arguments must be an object of name/value strings.")
    args = {str(k): str(v) for k, v in args.items()}
    ctx_name = args.get("_contextName") or DEFAULT_CONTEXT
    ctx = app.catalog.context_by_name.get(ctx_name)
    if ctx is None:
        raise ApiError(
            400,
            f'The compute context "{ctx_name}" was not found.',
            [f"known contexts: {', '.join(app.catalog.context_by_name)}"],
        )
    name = str(body.get("name") or def_name or "job")
    props = body.get("properties") or []
    if isinstance(props, dict):  # accepted for older clients; served as Viya does, name/value pairs
        props = [{"name": str(k), "value": str(v)} for k, v in props.items()]
    if not isinstance(props, list) or not all(
        isinstance(x, dict) and isinstance(x.get("name"), str) for x in props
    ):
        raise ApiError(400, "The job request's properties must be a list of {name, value} pairs.")
    job_request = {
        "name": name,
        "description": body.get("description"),
        "jobDefinitionUri": uri,
        "jobDefinition": def_doc,
        "arguments": args,
        "properties": [{"name": x["name"], "value": str(x.get("value", ""))} for x in props],
        "createdByApplication": body.get("createdByApplication"),
        "version": 3,
    }
    payload = {
        "jobRequest": {k: v for k, v in job_request.items() if v is not None},
        "user": req.user or "sasboot",
        "createdByApplication": body.get("createdByApplication"),
        "expiresAfter": body.get("expiresAfter"),
        "definition_name": def_name,
        "code": code,  # the log echoes it
    }
    job = app.cluster.submit(
        app.cluster.now, name, ctx.name, definition.id if definition else None, code, payload
    )
    resp = _resource(
        req,
        JOB_TYPE,
        app.views.job(job),
        app.views.job_etag(job),
        app.timeline.epoch(job.submit_t),
        201,
    )
    resp.headers["Location"] = f"/jobExecution/jobs/{job.id}"
    return resp


def _job(app: Emulator, req: Request) -> Any:
    job = app.cluster.jobs.get(req.params["id"])
    if job is None or job.id in app.deleted:
        raise ApiError(404, f"The job with id '{req.params['id']}' was not found.")
    return job


def get_job(app: Emulator, req: Request) -> Response:
    job = _job(app, req)
    v = app.views
    return _resource(
        req, JOB_TYPE, v.job(job), v.job_etag(job), app.timeline.epoch(v.jes_modified(job))
    )


def list_jobs(app: Emulator, req: Request) -> Response:
    rows = [j for j in app.cluster.job_list if j.id not in app.deleted]
    extra = [link("create", "/jobExecution/jobs", method="POST", type_=JOB_TYPE)]
    return _collection(
        app, req, "jobs", rows, app.views.job_fields, app.views.job, JOB_TYPE, extra=extra
    )


def get_job_state(app: Emulator, req: Request) -> Response:
    job = _job(app, req)
    return Response(200, app.views.jes_state(job), "text/plain", {"ETag": app.views.job_etag(job)})


def put_job_state(app: Emulator, req: Request) -> Response:
    job = _job(app, req)
    value = req.query.get("value") or req.body.decode("utf-8", "replace").strip()
    if value != "canceled":
        raise ApiError(
            400, f"The state value '{value}' is not valid; only 'canceled' can be requested."
        )
    state = app.views.jes_state(job)
    if state in ("completed", "failed", "canceled"):
        raise ApiError(405, f"The job '{job.id}' is already {state}; its state cannot be changed.")
    if job.terminal:  # finished in the orchestrator, Job Execution not yet told: the cancel wins
        job.state, job.end_t = "canceled", app.cluster.now
    else:
        app.cluster.cancel(app.cluster.now, job.id)
    return Response(200, "canceled", "text/plain", {"ETag": app.views.job_etag(job)})


def get_file_content(app: Emulator, req: Request) -> Response:
    """A finished job's log (``results``/``logLocation`` point here); 404 for any other id."""
    job = app.views.job_of_log(req.params["id"])
    if job is None or job.id in app.deleted:
        raise ApiError(404, f"The file with id '{req.params['id']}' was not found.")
    return Response(200, app.views.log_text(job), "text/plain", {})


def delete_job(app: Emulator, req: Request) -> Response:
    job = _job(app, req)
    if not job.terminal:
        app.cluster.cancel(app.cluster.now, job.id)
    app.deleted.add(job.id)
    return Response(204)


# ----- Workload Orchestrator -----------------------------------------------------------


def list_orch_jobs(app: Emulator, req: Request) -> Response:
    rows = [j for j in app.cluster.job_list if app.views.orch_visible(j)]
    return _collection(
        app,
        req,
        "jobs",
        rows,
        app.views.orch_fields,
        app.views.orch_job,
        ORCH_JOB_TYPE,
        default_sort="id:ascending",
    )


def get_orch_job(app: Emulator, req: Request) -> Response:
    raw = req.params["id"]
    job = next(
        (j for j in app.cluster.job_list if str(j.orch_id) == raw and app.views.orch_visible(j)),
        None,
    )
    if job is None:
        raise ApiError(404, f"The workload orchestrator job '{raw}' was not found.")
    doc = app.views.orch_job(job)
    return _resource(
        req,
        ORCH_JOB_TYPE,
        doc,
        etag(job.orch_id, doc["processingInfo"]["state"]),
        app.timeline.epoch(app.cluster.now),
    )


def list_hosts(app: Emulator, req: Request) -> Response:
    return _collection(
        app,
        req,
        "hosts",
        app.cluster.live_nodes(),
        app.views.host_fields,
        app.views.host,
        HOST_TYPE,
    )


def get_host(app: Emulator, req: Request) -> Response:
    node = next((n for n in app.cluster.live_nodes() if n.name == req.params["name"]), None)
    if node is None:
        raise ApiError(404, f"The host '{req.params['name']}' was not found.")
    doc = app.views.host(node)
    return _resource(
        req,
        HOST_TYPE,
        doc,
        etag(node.name, doc["numJobs"], node.state),
        app.timeline.epoch(app.cluster.now),
    )


def list_queues(app: Emulator, req: Request) -> Response:
    names = list(app.scenario.queues)
    fields = lambda n: {"name": n}.get  # noqa: E731
    return _collection(app, req, "queues", names, fields, app.views.queue, QUEUE_TYPE)


def get_queue(app: Emulator, req: Request) -> Response:
    name = req.params["name"]
    if name not in app.scenario.queues:
        raise ApiError(404, f"The queue '{name}' was not found.")
    doc = app.views.queue(name)
    return _resource(
        req,
        QUEUE_TYPE,
        doc,
        etag(name, doc["numPendingJobs"], doc["numRunningJobs"]),
        app.timeline.epoch(app.cluster.now),
    )


# ----- admin (no auth, never faulted) ------------------------------------------------------


def ground_truth(app: Emulator, req: Request) -> Response:
    return Response(200, app.ground_truth())


def get_faults(app: Emulator, req: Request) -> Response:
    return Response(200, app.faults.spec.model_dump())


def post_faults(app: Emulator, req: Request) -> Response:
    body = req.json()
    if not isinstance(body, dict):
        raise ApiError(400, "The faults body must be a JSON object (see FaultsSpec).")
    try:
        return Response(200, app.set_faults(body))
    except ConfigError as e:
        raise ApiError(400, str(e)) from None


def get_scenario(app: Emulator, req: Request) -> Response:
    return Response(200, app.scenario.model_dump(mode="json"))


def health(app: Emulator, req: Request) -> Response:
    return Response(200, {"status": "ok", "url": app.url})
