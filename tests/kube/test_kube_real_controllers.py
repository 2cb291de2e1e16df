"""The chart's CronJob under a real kube-controller-manager (no kubelet: pods stay Pending).

* On schedule the CronJob controller creates a Job, the Job controller its pod;
  ``concurrencyPolicy: Forbid`` then holds the next run back while that pod
  exists (the controller's ``JobAlreadyActive`` event).
* PodSecurity "restricted" only warns when a CronJob with a bad pod template is
  installed; the rejection comes when the Job controller creates the pod, as a
  ``FailedCreate`` event naming the violation.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest
from support.kube_control_plane import CHART, RESTRICTED, ControlPlane, wait_for

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

RELEASE, FULLNAME = "bench", "bench-jes-runner"


def _install(cp: ControlPlane, ns: str, values: dict[str, str]) -> Any:
    helm = shutil.which("helm")
    if not helm:
        pytest.fail("'helm' is not installed: run .ci/install-helm", pytrace=False)
    sets = [
        a
        for k, v in {"runner.viyaUrl": "https://viya.example.com", **values}.items()
        for a in ("--set", f"{k}={v}")
    ]
    return cp.run(helm, "install", RELEASE, str(CHART), "--namespace", ns, *sets)


def _events(cp: ControlPlane, ns: str, reason: str) -> list[Any]:
    return [e for e in cp.core().list_namespaced_event(ns).items if e.reason == reason]


def _needs_controller_manager(cp: ControlPlane) -> None:
    assert cp.controller_manager, (
        "the session's control plane was started without the controller manager"
    )


def test_cronjob_runs_on_schedule_and_forbid_holds_the_next_run_back(
    kube_control_plane: ControlPlane,
) -> None:
    cp = kube_control_plane
    _needs_controller_manager(cp)
    ns = cp.namespace("cron", RESTRICTED)
    _install(cp, ns, {"cronjob.schedule": "* * * * *", "persistence.enabled": "false"})
    batch = cp.batch()
    # the first minute boundary: a Job from the CronJob, and its pod (Pending: nothing runs it)
    (job,) = wait_for(
        lambda: batch.list_namespaced_job(ns).items, timeout=150, step=1, what="a scheduled Job"
    )
    assert job.metadata.owner_references[0].kind == "CronJob"
    assert job.metadata.owner_references[0].name == FULLNAME
    assert job.metadata.name.startswith(f"{FULLNAME}-")
    (pod,) = wait_for(
        lambda: cp.core().list_namespaced_pod(ns).items, timeout=60, step=1, what="the Job's pod"
    )
    assert pod.status.phase == "Pending" and pod.spec.service_account_name == FULLNAME
    # the next minute boundary: Forbid keeps it back while the first run's pod exists
    (held,) = wait_for(
        lambda: _events(cp, ns, "JobAlreadyActive"),
        timeout=150,
        step=1,
        what="the CronJob controller holding a run back",
    )
    assert "concurrency policy is Forbid" in held.message
    assert [j.metadata.name for j in batch.list_namespaced_job(ns).items] == [job.metadata.name]
    cron = batch.read_namespaced_cron_job(FULLNAME, ns)
    assert [a.name for a in cron.status.active or []] == [job.metadata.name]
    cp.core().delete_namespace(ns)


def test_pod_violating_restricted_is_refused_when_the_job_controller_creates_it(
    kube_control_plane: ControlPlane,
) -> None:
    cp = kube_control_plane
    _needs_controller_manager(cp)
    ns = cp.namespace("podsec", RESTRICTED)
    proc = _install(
        cp, ns, {"securityContext.allowPrivilegeEscalation": "true", "persistence.enabled": "false"}
    )
    # installing the CronJob only warns (Helm 4 logs the server's warning with its quotes escaped)
    warning = proc.stderr.replace('\\"', '"')
    assert (
        'would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false'
        in warning
    )
    # a run (as `kubectl create job --from=cronjob/...` starts one): the Job is accepted, its pod is not
    cp.run("kubectl", "create", "job", "manual-run", f"--from=cronjob/{FULLNAME}", "-n", ns)
    (failed,) = wait_for(
        lambda: _events(cp, ns, "FailedCreate"), timeout=90, step=0.5, what="FailedCreate"
    )[:1]
    assert failed.involved_object.kind == "Job" and failed.involved_object.name == "manual-run"
    assert "Error creating: pods " in failed.message
    assert (
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false'
        in failed.message
    )
    assert cp.core().list_namespaced_pod(ns).items == []
    cp.core().delete_namespace(ns)
