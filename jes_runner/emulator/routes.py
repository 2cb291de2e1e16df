"""The emulator's route table: every endpoint, its handler, and whether it needs auth,
moves the model clock, or is an admin endpoint outside the Viya paths."""

from __future__ import annotations

from typing import Any

from jes_runner.emulator import api, k8s
from jes_runner.emulator.http import Route, Router

ROUTES: list[Route] = [
    Route("POST", "/SASLogon/oauth/token", api.token, auth=False, model=False),
    Route("GET", "/SASLogon/oauth/authorize", api.authorize, auth=False, model=False),
    Route("GET", "/jobDefinitions/definitions", api.list_definitions),
    Route("GET", "/jobDefinitions/definitions/{id}", api.get_definition),
    Route("GET", "/compute/contexts", api.list_contexts),
    Route("GET", "/compute/contexts/{id}", api.get_context),
    Route("POST", "/jobExecution/jobs", api.submit_job),
    Route("GET", "/jobExecution/jobs", api.list_jobs),
    Route("GET", "/jobExecution/jobs/{id}", api.get_job),
    Route("DELETE", "/jobExecution/jobs/{id}", api.delete_job),
    Route("GET", "/jobExecution/jobs/{id}/state", api.get_job_state),
    Route("PUT", "/jobExecution/jobs/{id}/state", api.put_job_state),
    Route("GET", "/files/files/{id}/content", api.get_file_content),
    Route("GET", "/workloadOrchestrator/jobs", api.list_orch_jobs),
    Route("GET", "/workloadOrchestrator/jobs/{id}", api.get_orch_job),
    Route("GET", "/workloadOrchestrator/hosts", api.list_hosts),
    Route("GET", "/workloadOrchestrator/hosts/{name}", api.get_host),
    Route("GET", "/workloadOrchestrator/queues", api.list_queues),
    Route("GET", "/workloadOrchestrator/queues/{name}", api.get_queue),
    Route("GET", "/emulator/ground-truth", api.ground_truth, auth=False, model=False, admin=True),
    Route("GET", "/emulator/faults", api.get_faults, auth=False, admin=True),
    Route("POST", "/emulator/faults", api.post_faults, auth=False, model=False, admin=True),
    Route("GET", "/emulator/scenario", api.get_scenario, auth=False, model=False, admin=True),
    Route("GET", "/emulator/health", api.health, auth=False, model=False, admin=True),
]


def _kube_routes() -> list[Route]:
    """The small Kubernetes API (k8s.py): its own auth and Status errors, never faulted."""
    nodes, secret = "/api/v1/nodes", "/api/v1/namespaces/{namespace}/secrets"
    kw: dict[str, Any] = {"auth": False, "model": False, "admin": True}
    return [
        Route("GET", nodes, k8s.list_nodes, **kw),
        Route("GET", nodes + "/{name}", k8s.get_node, **kw),
        Route("POST", secret, k8s.create_secret, **kw),
        Route("GET", secret + "/{name}", k8s.get_secret, **kw),
        Route("PATCH", secret + "/{name}", k8s.patch_secret, **kw),
        Route("PUT", secret + "/{name}", k8s.replace_secret, **kw),
        Route("GET", "/emulator/k8s", k8s.admin_get, **kw),
        Route("POST", "/emulator/k8s", k8s.admin_post, **kw),
    ]


ROUTES += _kube_routes()


ROUTER = Router(ROUTES)
