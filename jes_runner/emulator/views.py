"""JSON representations of every served resource, and the fields filters can use.

Shapes follow the public Viya REST shapes (README: "Endpoints"). Invented where Viya's are not public
(say so when you rely on them):

* Orchestrator job ``processingInfo.state``: PENDING, STARTING, RUNNING, DONE
  (completed), FAILED (exitCode 2, SAS "errors"), KILLED (canceled, exitCode
  143); ``status`` is "ok" or "error"; ``startTime`` is the dispatch instant (end
  of PENDING, start of STARTING). totalTime* are REAL seconds with
  milliseconds, consistent with the served (scaled) timestamps.
* Host (``/workloadOrchestrator/hosts``): ``name``, ``pool``, ``state``
  (PROVISIONING | READY), ``queues``, ``maxJobs`` (slots), ``numJobs``,
  ``numStartingJobs``, ``numRunningJobs``, ``cpuCapacity`` (jobs at full speed),
  ``cores``, ``memoryMB``, ``requestedTime``, ``readyTime``, ``idleSince``,
  ``jobs`` [{``id``, ``name``, ``state``}].
* Queue (``/workloadOrchestrator/queues``): ``name``, ``priority``, ``pools``,
  ``hosts``, ``contexts``, ``numPendingJobs``, ``numRunningJobs``.
* Job Execution ``stateDetails`` of a failed job: ``{"failureReason", "exitCode"}``.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from jes_runner.emulator.catalog import Context, Definition
from jes_runner.emulator.clock import Timeline, iso_ms
from jes_runner.emulator.envelope import link
from jes_runner.emulator.faults import FaultInjector
from jes_runner.sim.model import Cluster, Node, SimJob

JOB_TYPE = "application/vnd.sas.job.execution.job"
DEFINITION_TYPE = "application/vnd.sas.job.definition"
CONTEXT_TYPE = "application/vnd.sas.compute.context"
CONTEXT_SUMMARY_TYPE = "application/vnd.sas.compute.context.summary"
ORCH_JOB_TYPE = "application/vnd.sas.workload.orchestrator.job"
HOST_TYPE = "application/vnd.sas.workload.orchestrator.host"
QUEUE_TYPE = "application/vnd.sas.workload.orchestrator.queue"
CREATED_BY = "sasboot"
HEARTBEAT_INTERVAL_S = 600  # seen on real Viya 4 jobs (README: "Job shape")
DEFAULT_EXPIRES_AFTER_S = 72 * 3600.0  # invented: the real default is not public
_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def expires_after_s(value: Any) -> float:
    """A job request's ``expiresAfter`` (ISO 8601 duration such as PT72H) in seconds."""
    m = _DURATION.match(value) if isinstance(value, str) else None
    if not m or not any(m.groups()):
        return DEFAULT_EXPIRES_AFTER_S
    d, h, mi, sec = (float(g) if g else 0.0 for g in m.groups())
    return d * 86400 + h * 3600 + mi * 60 + sec


def etag(*parts: Any) -> str:
    return '"' + hashlib.blake2s(repr(parts).encode(), digest_size=8).hexdigest() + '"'


def _dt(epoch: float) -> datetime:
    """The instant at the served precision (ms), so filters agree with served timestamps."""
    dt = datetime.fromtimestamp(epoch, UTC)
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


class Views:
    """Builds documents at model time ``cluster.now`` (call under the emulator lock)."""

    def __init__(
        self, cluster: Cluster, timeline: Timeline, faults: FaultInjector | None = None
    ) -> None:
        self.cluster = cluster
        self.tl = timeline
        self.faults = faults  # bad server data to serve (impossible timestamps)

    # ----- Job Execution ------------------------------------------------------

    def jes_state(self, job: SimJob) -> str:
        if job.state == "pending":
            return "pending"
        if job.state in ("starting", "running"):
            return "running"
        if (
            job.state != "canceled"
            and job.end_t is not None
            and job.end_t + self.cluster.scenario.completion_lag_s > self.cluster.now
        ):
            return "running"  # orchestrator done, Job Execution not yet told
        return job.state

    def jes_end(self, job: SimJob) -> float | None:
        if job.end_t is None or self.jes_state(job) not in ("completed", "failed", "canceled"):
            return None
        return (
            job.end_t
            if job.state == "canceled"
            else job.end_t + self.cluster.scenario.completion_lag_s
        )

    def jes_modified(self, job: SimJob) -> float:
        end = self.jes_end(job)
        if end is not None:
            return end
        return job.dispatch_t if job.dispatch_t is not None else job.submit_t

    def job(self, job: SimJob) -> dict[str, Any]:
        tl, p = self.tl, job.payload
        state = self.jes_state(job)
        href = f"/jobExecution/jobs/{job.id}"
        end = self.jes_end(job)
        doc: dict[str, Any] = {
            "creationTimeStamp": tl.iso(job.submit_t),
            "modifiedTimeStamp": tl.iso(self.jes_modified(job)),
            "createdBy": p.get("user", CREATED_BY),
            "modifiedBy": p.get("user", CREATED_BY),
            "version": 4,
            "id": job.id,
            "state": state,
            "submittedByApplication": p.get("createdByApplication") or "jobExecution",
            "heartbeatInterval": HEARTBEAT_INTERVAL_S,
            "heartbeatTimeStamp": tl.iso(
                min(self.cluster.now, end) if end is not None else self.cluster.now
            ),
            "jobRequest": p.get("jobRequest", {"name": job.name}),
            "links": [
                link("self", href, type_=JOB_TYPE),
                link("state", f"{href}/state", type_="text/plain"),
                link("updateState", f"{href}/state", method="PUT", type_="text/plain"),
                link("update", href, method="PUT", type_=JOB_TYPE),
                link("delete", href, method="DELETE"),
            ],
        }
        if job.definition_id:
            doc["links"].append(
                link(
                    "jobDefinition",
                    f"/jobDefinitions/definitions/{job.definition_id}",
                    type_=DEFINITION_TYPE,
                )
            )
        # elapsedTime and results are there while the job runs too (SAS's sample: a running job
        # with "elapsedTime": 719, "results": {}); elapsed stops at the end
        doc["elapsedTime"] = int(
            round(
                (tl.epoch(end if end is not None else self.cluster.now) - tl.epoch(job.submit_t))
                * 1000
            )
        )
        doc["results"] = {}
        # expiresAfter is a client-side (real) duration: added to the real creation time
        doc["expirationTimeStamp"] = iso_ms(
            tl.epoch(job.submit_t) + expires_after_s(p.get("expiresAfter"))
        )
        if end is not None:
            doc["endTimeStamp"] = tl.iso(end)
            if self.faults is not None and self.faults.impossible_end(job.name):
                bad = job.submit_t - self.faults.spec.impossible_end_s
                doc["endTimeStamp"] = tl.iso(bad)
        if state in ("completed", "failed") and job.dispatch_t is not None:
            cj = str(uuid.UUID(job.orch_name[-36:])).upper()
            log_id = self.log_id(job)
            doc["results"] = {
                "COMPUTE_CONTEXT": job.context,
                "COMPUTE_JOB": cj,
                "COMPUTE_SESSION": f"{job.orch_name[-36:]}-ses0000 ended.",
                f"{cj}.log.txt": f"/files/files/{log_id}",
            }
            doc["logLocation"] = f"/files/files/{log_id}"
            doc["links"].append(link("log", f"/files/files/{log_id}/content", type_="text/plain"))
        if state == "failed":
            doc["error"] = {
                "errorCode": 5510,
                "message": job.fail_reason,
                "details": [f"traceId: {job.id[:16].replace('-', '')}", f"path: {href}"],
                "httpStatusCode": 500,
                "version": 2,
            }
            doc["stateDetails"] = {"failureReason": job.fail_reason, "exitCode": 2}
        return doc

    def log_id(self, job: SimJob) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, job.id + "/log"))

    def job_of_log(self, file_id: str) -> SimJob | None:
        """The finished job whose log is ``/files/files/{file_id}`` (None: no such log)."""
        for job in self.cluster.job_list:
            if self.log_id(job) == file_id and self.jes_state(job) in ("completed", "failed"):
                return job if job.dispatch_t is not None else None
        return None

    def log_text(self, job: SimJob) -> str:
        """An invented SAS log: a header, the job's code, and the failure as SAS writes it."""
        code = str(job.payload.get("code") or "data _null_; run;")
        lines = [
            "1          The SAS System",
            "",
            "NOTE: Copyright (c) 2016-2023 by SAS Institute Inc., Cary, NC, USA.",
            f"NOTE: SAS (r) Proprietary Software V.04.00 (emulated) on {job.node.name if job.node else '?'}",
            f"NOTE: Job {job.payload.get('jobRequest', {}).get('name', job.name)} in context {job.context}.",
            "",
        ]
        lines += [f"{i:<10} {ln}" for i, ln in enumerate(code.splitlines(), 1)]
        if job.fail_reason:
            lines += [
                "ERROR: " + job.fail_reason,
                "NOTE: The SAS System stopped processing this step because of errors.",
                "ERROR: Errors printed on page 1.",
            ]
        else:
            lines += [
                "NOTE: DATA statement used (Total process time):",
                "NOTE: The SAS System used:",
            ]
        return "\n".join(lines) + "\n"

    def job_fields(self, job: SimJob) -> Any:
        def resolve(field: str) -> Any:
            match field:
                case "id":
                    return job.id
                case "state":
                    return self.jes_state(job)
                case "name" | "jobRequest.name":
                    return job.payload.get("jobRequest", {}).get("name", job.name)
                case "creationTimeStamp":
                    return _dt(self.tl.epoch(job.submit_t))
                case "modifiedTimeStamp":
                    return _dt(self.tl.epoch(self.jes_modified(job)))
                case "endTimeStamp":
                    end = self.jes_end(job)
                    return None if end is None else _dt(self.tl.epoch(end))
                case "createdBy" | "modifiedBy":
                    return job.payload.get("user", CREATED_BY)
                case "elapsedTime":
                    end = self.jes_end(job)
                    end = self.cluster.now if end is None else end
                    return (end - job.submit_t) * self.tl.scale * 1000
                case "jobDefinitionUri" | "jobRequest.jobDefinitionUri":
                    return job.payload.get("jobRequest", {}).get("jobDefinitionUri")
                case "contextName" | "jobRequest.arguments._contextName":
                    return job.context
                case "submittedByApplication":
                    return job.payload.get("createdByApplication") or "jobExecution"
            return None

        return resolve

    def job_etag(self, job: SimJob) -> str:
        return etag(job.id, self.jes_state(job), self.jes_modified(job))

    # ----- catalog ------------------------------------------------------------

    def definition(self, d: Definition) -> dict[str, Any]:
        href = f"/jobDefinitions/definitions/{d.id}"
        return {
            "id": d.id,
            "name": d.name,
            "description": d.description,
            "type": "Compute",
            "code": d.code,
            "parameters": [
                {
                    "version": 1,
                    "name": "_contextName",
                    "type": "CHARACTER",
                    "label": "Compute context",
                    "required": False,
                    "defaultValue": "SAS Job Execution compute context",
                }
            ],
            "properties": [{"name": "jobType", "value": "Compute"}],
            "version": 2,
            "createdBy": CREATED_BY,
            "modifiedBy": CREATED_BY,
            "creationTimeStamp": self.tl.iso(0.0),
            "modifiedTimeStamp": self.tl.iso(0.0),
            "links": [
                link("self", href, type_=DEFINITION_TYPE),
                link("alternate", href, type_="application/vnd.sas.summary"),
                link("update", href, method="PUT", type_=DEFINITION_TYPE),
                link("delete", href, method="DELETE"),
                link("submitJob", "/jobExecution/jobs", method="POST", type_=JOB_TYPE),
            ],
        }

    def context_summary(self, c: Context) -> dict[str, Any]:
        href = f"/compute/contexts/{c.id}"
        return {
            "id": c.id,
            "name": c.name,
            "createdBy": CREATED_BY,
            "version": 2,
            "links": [
                link("self", href, type_=CONTEXT_SUMMARY_TYPE),
                link("alternate", href, type_=CONTEXT_TYPE),
                link(
                    "createSession",
                    f"{href}/sessions",
                    method="POST",
                    type_="application/vnd.sas.compute.session",
                ),
            ],
        }

    def context(self, c: Context) -> dict[str, Any]:
        doc = self.context_summary(c)
        doc["links"][0]["type"] = CONTEXT_TYPE
        doc.update(
            {
                "description": c.description,
                "launchContext": {"contextName": "SAS Job Execution launcher context"},
                "launchType": "service",
                "attributes": {"reuseServerProcesses": "false"},
                "environment": {"options": []},
                "resources": {},
                "queueName": c.queue,
                "creationTimeStamp": self.tl.iso(0.0),
                "modifiedTimeStamp": self.tl.iso(0.0),
                "modifiedBy": CREATED_BY,
            }
        )
        return doc

    # ----- Workload Orchestrator ---------------------------------------------

    def orch_state(self, job: SimJob) -> str:
        return {
            "pending": "PENDING",
            "starting": "STARTING",
            "running": "RUNNING",
            "completed": "DONE",
            "failed": "FAILED",
        }.get(job.state, "KILLED")

    def orch_visible(self, job: SimJob) -> bool:
        return self.cluster.now >= job.submit_t + self.cluster.scenario.registration_lag_s

    def orch_job(self, job: SimJob) -> dict[str, Any]:
        tl, now = self.tl, self.cluster.now
        state = self.orch_state(job)
        disp, run, end = job.dispatch_t, job.run_t, job.end_t
        pending = (disp if disp is not None else (end if end is not None else now)) - job.submit_t
        starting = (
            0.0
            if disp is None
            else (run if run is not None else (end if end is not None else now)) - disp
        )
        running = 0.0 if run is None else (end if end is not None else now) - run
        prof = job.profile
        exit_code = {"DONE": 0, "FAILED": 2, "KILLED": 143}.get(state)
        info: dict[str, Any] = {
            "state": state,
            "status": "error" if state == "FAILED" else "ok",
            "submitTime": tl.iso(job.submit_t),
            "startTime": tl.iso(disp),
            "endTime": tl.iso(end),
            "exitCode": exit_code,
            "requeueCount": 0,
            "totalTimePending": tl.real_seconds(pending),
            "totalTimeStarting": tl.real_seconds(starting),
            "totalTimeRunning": tl.real_seconds(running),
            "totalTimeSuspAdmin": 0,
            "totalTimeSuspThresh": 0,
            "totalTimeSuspPreempt": 0,
            "executionHost": job.node.name if job.node else None,
            "executionIP": job.ip,
            "hostSchedulingInfo": [
                {"hostName": job.node.name, "queueName": job.queue, "state": "SELECTED"}
            ]
            if job.node
            else [],
            "k8sObjName": f"sas-compute-server-{job.orch_name[-36:-28]}-{job.orch_id}"
            if job.node
            else None,
            "launchStatus": "LAUNCHED" if job.node else "",
            "queuePriority": self.cluster.scenario.queues[job.queue].priority,
            "pendingCause": f"No host of queue '{job.queue}' has a free job slot"
            if state == "PENDING"
            else "",
            "suspendFlags": 0,
            "consumedResources": [
                {"name": "cores", "value": prof.cores},
                {"name": "memory", "value": prof.memory_mb},
            ]
            if job.node
            else [],
            "limitValues": [
                {"name": "maxMemory", "value": prof.max_memory or 0.0},
                # served seconds, like every other time field (model seconds x speed factor)
                {"name": "maxCpuTime", "value": tl.real_seconds(prof.cpu_time_s or 0.0)},
                {"name": "maxClockTime", "value": tl.real_seconds(running)},
                {"name": "maxIoTotal", "value": 0},
                {"name": "maxIoRate", "value": 0},
                {"name": "maxPageRate", "value": 0},
            ],
        }
        return {
            "id": job.orch_id,
            "request": {
                "name": job.orch_name,
                "queue": job.queue,
                "user": job.payload.get("user", CREATED_BY),
                "tenant": "uaa",
                "type": "compute",
                "project": "",
            },
            "processingInfo": info,
            "links": [
                link("self", f"/workloadOrchestrator/jobs/{job.orch_id}", type_=ORCH_JOB_TYPE)
            ],
        }

    def orch_fields(self, job: SimJob) -> Any:
        def resolve(field: str) -> Any:
            match field:
                case "id":
                    return job.orch_id
                case "name" | "request.name":
                    return job.orch_name
                case "queue" | "request.queue":
                    return job.queue
                case "state" | "processingInfo.state":
                    return self.orch_state(job)
                case "submitTime" | "processingInfo.submitTime":
                    return _dt(self.tl.epoch(job.submit_t))
                case "startTime" | "processingInfo.startTime":
                    return None if job.dispatch_t is None else _dt(self.tl.epoch(job.dispatch_t))
                case "endTime" | "processingInfo.endTime":
                    return None if job.end_t is None else _dt(self.tl.epoch(job.end_t))
                case "executionHost" | "processingInfo.executionHost":
                    return job.node.name if job.node else None
                case "user" | "request.user":
                    return job.payload.get("user", CREATED_BY)
            return None

        return resolve

    def host(self, node: Node) -> dict[str, Any]:
        queues = [q for q, spec in self.cluster.scenario.queues.items() if node.pool in spec.pools]
        return {
            "name": node.name,
            "pool": node.pool,
            "state": node.state,
            "queues": queues,
            "maxJobs": node.spec.slots_per_node,
            "numJobs": len(node.jobs),
            "numStartingJobs": sum(1 for j in node.jobs if j.state == "starting"),
            "numRunningJobs": sum(1 for j in node.jobs if j.state == "running"),
            "cpuCapacity": node.spec.cpu_capacity,
            "cores": node.spec.cores_per_node,
            "memoryMB": node.spec.memory_mb_per_node,
            "requestedTime": self.tl.iso(node.requested_t),
            "readyTime": self.tl.iso(node.ready_t),
            "idleSince": self.tl.iso(node.idle_since) if not node.jobs else None,
            "jobs": [
                {"id": j.orch_id, "name": j.orch_name, "state": self.orch_state(j)}
                for j in node.jobs
            ],
            "links": [link("self", f"/workloadOrchestrator/hosts/{node.name}", type_=HOST_TYPE)],
        }

    def host_fields(self, node: Node) -> Any:
        doc = {"name": node.name, "pool": node.pool, "state": node.state, "numJobs": len(node.jobs)}
        return lambda f: doc.get(f)

    def queue(self, name: str) -> dict[str, Any]:
        spec = self.cluster.scenario.queues[name]
        jobs = [j for n in self.cluster.live_nodes() for j in n.jobs if j.queue == name]
        return {
            "name": name,
            "priority": spec.priority,
            "pools": list(spec.pools),
            "hosts": [n.name for n in self.cluster.live_nodes() if n.pool in spec.pools],
            "contexts": [c.name for c in self.cluster.scenario.contexts if c.queue == name],
            "numPendingJobs": len(self.cluster.pending[name]),
            "numRunningJobs": len(jobs),
            "links": [link("self", f"/workloadOrchestrator/queues/{name}", type_=QUEUE_TYPE)],
        }
