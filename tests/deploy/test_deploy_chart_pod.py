"""The chart's own pod, run for real: `helm template` renders the CronJob, its job template's
pod spec becomes a `podman run` (tests/deploy/podspec.py) of the image built from the
Dockerfile, against the emulator and a real Pushgateway on the host (`--network host`).

Nothing is hand-written between the chart and the runner: the env names, the Secret and
ConfigMap files, the volume paths, the securityContext and the args are the chart's. The
results must land on the PVC's directory, owned by UID 10001, written through a read-only
root filesystem; the metrics must reach the gateway. Two value sets: the defaults (a
created Secret, the job config from `--set-file jobConfig.json=...`) and the existing-Secret
scenario (an operator's Secret with renamed keys, a CA bundle ConfigMap).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from deploy_util import CHART, REPO, one
from podspec import Cluster, podman_run_args
from support.servers import make_tls_files, parse_metrics_text

from jes_runner.emulator import Emulator

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

UID = 10001
RELEASE, NAMESPACE = "jes", "sas-bench"
CLAIM = "jes-jes-runner-results"
JOBS = ["cm_pooled", "dm_pooled", "ae_pooled"]


def job_config_file(tmp_path: Path) -> Path:
    """A user's job config: three of the packaged example's jobs."""
    doc = json.loads((REPO / "config" / "job_configs.json").read_text())
    jobs = [j for j in doc["jobs"] if j["name"] in JOBS]
    assert len(jobs) == len(JOBS)
    path = tmp_path / "my_jobs.json"
    path.write_text(json.dumps({**doc, "jobs": jobs}, indent=2))
    return path


def render(helm: Any, *args: str) -> list[dict[str, Any]]:
    proc = helm.run("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def run_pod(
    podman: str,
    image: str,
    docs: list[dict[str, Any]],
    cluster: Cluster,
    work: Path,
    timeout: float = 240,
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    pod = one(docs, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    args = podman_run_args(pod, cluster.add_manifests(docs), work, image=image, network="host")
    proc = subprocess.run(
        [podman, "run", "--rm", *args], capture_output=True, text=True, timeout=timeout
    )
    return proc, args


def gateway_groups(url: str) -> set[tuple[str, str, str, str]]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        samples = parse_metrics_text(r.read().decode())
    return {
        (
            lbl.get("job", ""),
            lbl.get("cluster", ""),
            lbl.get("environment", ""),
            lbl.get("profile", ""),
        )
        for name, lbl, _ in samples
        if name == "jes_run_success"
    }


def results_on(pvc: Path) -> dict[str, Any]:
    files = sorted(pvc.glob("pooled_jobs_comparison_*.json"))
    assert len(files) == 1, sorted(p.name for p in pvc.iterdir())
    assert files[0].stat().st_uid == UID, "results not written by the pod's user"
    return json.loads(files[0].read_text())


def password_grant(emu: Emulator) -> str:
    r = requests.post(
        f"{emu.url}/SASLogon/oauth/token",
        auth=("sas.cli", ""),
        timeout=10,
        data={"grant_type": "password", "username": emu.username, "password": emu.password},
    )
    r.raise_for_status()
    return str(r.json()["refresh_token"])


def common_sets(emu: Emulator, pushgateway: str, cluster_label: str) -> list[str]:
    return [
        "--set",
        f"runner.viyaUrl={emu.url}",
        "--set",
        f"runner.pushgatewayUrl={pushgateway}",
        "--set",
        f"runner.cluster={cluster_label}",
        "--set",
        "runner.environment=ci",
        "--set",
        "runner.logFormat=json",
    ]


def test_default_values_with_a_set_file_job_config(
    helm4, podman, jes_image, pushgateway, tmp_path: Path
) -> None:
    config = job_config_file(tmp_path)
    with Emulator(host="127.0.0.1", port=0) as emu:
        docs = render(
            helm4,
            *common_sets(emu, pushgateway, "chart-pod-default"),
            "--set",
            f"credentials.username={emu.username}",
            "--set",
            f"credentials.password={emu.password}",
            "--set-file",
            f"jobConfig.json={config}",
        )
        cluster = Cluster(claims={CLAIM: tmp_path / "pvc"})
        proc, args = run_pod(podman, jes_image, docs, cluster, tmp_path / "work")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{output[-4000:]}"
    assert "--read-only" in args and args[args.index("--user") + 1] == f"{UID}:{UID}"
    assert "Traceback" not in output and emu.password not in output
    doc = results_on(tmp_path / "pvc")
    assert doc["status"] == "completed"
    # the --set-file config reached the pod: its three jobs, read from the mounted ConfigMap
    assert doc["metadata"]["job_config"] == "/etc/jes-runner/config/job_configs.json"
    assert [sorted(j["name"] for j in p["jobs"]) for p in doc["phases"]] == [sorted(JOBS)] * 2
    assert doc["metadata"]["labels"]["cluster"] == "chart-pod-default"
    assert not [ln for ln in output.splitlines() if "packaged example" in ln]
    # metrics at the gateway, grouped under the release's profile
    assert ("jes-runner", "chart-pod-default", "ci", RELEASE) in gateway_groups(pushgateway)


def test_existing_secret_values(helm4, podman, jes_image, pushgateway, tmp_path: Path) -> None:
    ca = make_tls_files(tmp_path / "tls")["ca"].read_text()
    with Emulator(host="127.0.0.1", port=0) as emu:
        docs = render(
            helm4,
            "-f",
            str(CHART / "ci" / "existing-secret-values.yaml"),
            *common_sets(emu, pushgateway, "chart-pod-existing"),
            "--set-json",
            'cronjob.args=["run","--limit-jobs","3"]',
        )
        # what the operator put in the cluster: keys named differently, a CA bundle ConfigMap
        cluster = Cluster(
            secrets={
                "viya-oauth": {"token": password_grant(emu), "client": "sas.cli", "secret": ""}
            },
            config_maps={"viya-ca": {"ca.crt": ca}},
            claims={CLAIM: tmp_path / "pvc"},
        )
        proc, _ = run_pod(podman, jes_image, docs, cluster, tmp_path / "work")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"exit {proc.returncode}\n{output[-4000:]}"
    assert "Traceback" not in output
    doc = results_on(tmp_path / "pvc")
    assert doc["status"] == "completed" and [len(p["jobs"]) for p in doc["phases"]] == [3, 3]
    # none given: the image's
    assert doc["metadata"]["job_config"] == "/app/config/job_configs.json"
    # no job config given: the runner says it uses the packaged example
    assert [ln for ln in output.splitlines() if "packaged example" in ln], output[-3000:]
    assert ("jes-runner", "chart-pod-existing", "ci", RELEASE) in gateway_groups(pushgateway)
