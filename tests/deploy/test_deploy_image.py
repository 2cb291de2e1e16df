"""The container image, built with podman from the Dockerfile (offline, on a local
debootstrap base image), run through testcontainers (podman's Docker-compatible
socket) the way the CronJob runs it: UID 10001, read-only root filesystem, a tmpfs
/tmp, the secrets directory and the results directory mounted; against the
emulator and a real Pushgateway on the host."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from deploy_util import BASE_IMAGE, REPO

from jes_runner.emulator import Emulator

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

UID = 10001
RUN_ARGS = ["run", "--limit-jobs", "6"]


def podman_run(
    podman: str, image: str, *args: str, entrypoint: str | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    cmd = [podman, "run", "--rm", "--read-only", "--network", "none"]
    if entrypoint:
        cmd += ["--entrypoint", entrypoint]
    return subprocess.run([*cmd, image, *args], capture_output=True, text=True, timeout=timeout)


def test_image_metadata(podman, jes_image):
    proc = subprocess.run(
        [podman, "image", "inspect", jes_image], capture_output=True, text=True, check=True
    )
    info = json.loads(proc.stdout)[0]
    cfg = info["Config"]
    assert cfg["User"] == f"{UID}:{UID}"
    assert cfg["Entrypoint"] == ["jes-runner"]
    assert cfg["Cmd"] == ["run"]
    labels = cfg["Labels"]
    for key in ("title", "description", "version", "revision", "created", "licenses", "source"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"OCI label {key} missing"
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    env = dict(e.split("=", 1) for e in cfg["Env"])
    assert env["JES_JOB_CONFIG"] == "/app/config/job_configs.json"
    assert env["JES_OUTPUT_DIR"] == "/results"
    # nothing of the build machine baked in: no proxy, no CA or index settings for pip
    leaked = [
        k
        for k in env
        if k.upper()
        in {
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "NO_PROXY",
            "PIP_CERT",
            "PIP_INDEX_URL",
            "PIP_FIND_LINKS",
            "PIP_NO_INDEX",
            "REQUESTS_CA_BUNDLE",
            "SSL_CERT_FILE",
        }
    ]
    assert not leaked, leaked
    print(f"image {jes_image}: {info['Size'] / 1e6:.0f} MB")


def test_image_contents(podman, jes_image):
    script = r"""
set -u
echo "uid=$(id -u) gid=$(id -g)"
for c in gcc cc g++ make pip pip3; do command -v "$c" >/dev/null && echo "FOUND $c"; done
for d in /src /dist /wheels /opt/build /root/.cache /tmp/.cache /app/.ci-work; do [ -e "$d" ] && echo "FOUND $d"; done
ls /opt/venv/lib/python3.11/site-packages | grep -i '^pip' && echo "FOUND pip in venv"
[ -e /etc/pip.conf ] && echo "FOUND /etc/pip.conf"
touch /probe 2>/dev/null && echo "FOUND writable root"
touch /tmp/probe 2>/dev/null || echo "FOUND /tmp not writable"
exit 0
"""
    proc = subprocess.run(
        [
            podman,
            "run",
            "--rm",
            "--read-only",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            jes_image,
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"uid={UID} gid={UID}" in proc.stdout
    assert "FOUND" not in proc.stdout, proc.stdout
    cfg = podman_run(podman, jes_image, "/app/config/job_configs.json", entrypoint="cat")
    assert json.loads(cfg.stdout) == json.loads((REPO / "config" / "job_configs.json").read_text())
    # the build machine's CA bundle (with its proxy's CA) is not baked in: the base image's is kept
    bundle = "/etc/ssl/certs/ca-certificates.crt"
    image_ca = podman_run(podman, jes_image, bundle, entrypoint="sha256sum").stdout.split()[0]
    base_ca = podman_run(podman, BASE_IMAGE, bundle, entrypoint="sha256sum").stdout.split()[0]
    assert image_ca == base_ca
    version = podman_run(podman, jes_image, "--version")
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stdout + version.stderr


def make_secrets(tmp_path: Path, username: str, password: str) -> Path:
    """A secrets directory laid out like the mounted Kubernetes Secret."""
    d = tmp_path / "secrets"
    d.mkdir()
    for name, value in (("username", username), ("password", password)):
        (d / name).write_text(value)
        os.chown(d / name, 0, UID)
        (d / name).chmod(0o440)
    os.chown(d, 0, UID)
    d.chmod(0o750)
    return d


def make_results(tmp_path: Path) -> Path:
    d = tmp_path / "results"
    d.mkdir()
    os.chown(d, UID, UID)
    d.chmod(0o770)
    return d


def make_container(
    image: str, secrets: Path, results: Path | None, env: dict[str, str], args: list[str]
):
    """The image set up like the CronJob's pod: UID 10001, read-only root, tmpfs /tmp, no capabilities."""
    from testcontainers.core.container import DockerContainer  # after podman_socket set the env

    container = (
        DockerContainer(image)
        .with_command(args)
        .with_volume_mapping(str(secrets), "/var/run/secrets/jes", "ro")
        .with_tmpfs_mount("/tmp", "rw,size=64m,mode=1777")
        .with_kwargs(
            network_mode="host",
            read_only=True,
            user=f"{UID}:{UID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
        )
    )
    if results is not None:
        container.with_volume_mapping(str(results), "/results", "rw")
    for key, value in env.items():
        container.with_env(key, value)
    return container


def run_container(
    image: str,
    secrets: Path,
    results: Path | None,
    env: dict[str, str],
    args: list[str],
    timeout: float = 180,
) -> tuple[int, str, str]:
    """Runs the image like the CronJob's pod and returns (exit code, stdout, stderr)."""
    container = make_container(image, secrets, results, env, args)
    container.start()
    try:
        wrapped = container.get_wrapped_container()
        status = wrapped.wait(timeout=timeout)
        out, err = container.get_logs()
        return status["StatusCode"], out.decode(), err.decode()
    finally:
        container.stop()


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
        return r.read().decode()


def test_container_runs_against_the_emulator(jes_image, podman_socket, pushgateway, tmp_path):
    secrets = make_secrets(tmp_path, "jes", "jes-demo-password")
    results = make_results(tmp_path)
    with Emulator(host="127.0.0.1", port=0) as emu:
        started = time.monotonic()
        code, out, err = run_container(
            jes_image,
            secrets,
            results,
            {
                "JES_VIYA_URL": emu.url,
                "JES_PUSHGATEWAY_URL": pushgateway,
                "JES_LOG_FORMAT": "json",
                "JES_CLUSTER": "container-test",
                "JES_ENVIRONMENT": "ci",
            },
            RUN_ARGS,
        )
        elapsed = time.monotonic() - started
    assert code == 0, f"exit {code}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    assert "Traceback" not in out + err
    files = sorted(results.glob("pooled_jobs_comparison_*.json"))
    assert len(files) == 1, f"results dir: {sorted(p.name for p in results.iterdir())}"
    doc = json.loads(files[0].read_text())
    assert doc["status"] == "completed"
    assert doc["metadata"]["labels"] == {
        "cluster": "container-test",
        "environment": "ci",
        "profile": "adhoc",
    }
    assert [len(p["jobs"]) for p in doc["phases"]] == [6, 6]
    assert files[0].stat().st_uid == UID
    # the metrics arrived at the real Pushgateway on the host
    body = scrape(pushgateway)
    pushed = [
        line
        for line in body.splitlines()
        if line.startswith("jes_") and 'cluster="container-test"' in line
    ]
    names = {line.split("{")[0] for line in pushed}
    assert {"jes_run_success", "jes_phase_makespan_seconds"} <= names, body[-3000:]
    print(f"container run: {elapsed:.1f} s")


def test_container_with_wrong_credentials_exits_2_with_one_line(jes_image, podman_socket, tmp_path):
    secrets = make_secrets(tmp_path, "jes", "not-the-password")
    results = make_results(tmp_path)
    with Emulator(host="127.0.0.1", port=0) as emu:
        code, out, err = run_container(
            jes_image, secrets, results, {"JES_VIYA_URL": emu.url}, RUN_ARGS, timeout=60
        )
    assert code == 2, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert "password" in errors[0] or "credential" in errors[0] or "401" in errors[0], errors[0]
    assert not list(results.glob("pooled_jobs_comparison_*.json"))


def test_container_check_like_the_helm_test_pod(jes_image, podman_socket, pushgateway, tmp_path):
    secrets = make_secrets(tmp_path, "jes", "jes-demo-password")
    results = make_results(tmp_path)
    with Emulator(host="127.0.0.1", port=0) as emu:
        env = {"JES_VIYA_URL": emu.url, "JES_PUSHGATEWAY_URL": pushgateway}
        code, out, err = run_container(jes_image, secrets, results, env, ["check"], timeout=60)
        assert code == 0, f"exit {code}\nstdout:\n{out}\nstderr:\n{err}"
        assert out.rstrip().endswith("check: all checks passed"), out
        assert "FAIL" not in out
        # without the results volume the read-only root filesystem shows: one FAIL line, exit 2
        code, out, err = run_container(jes_image, secrets, None, env, ["check"], timeout=60)
    assert code == 2, out + err
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and "results directory" in fails[0] and "/results" in fails[0], out
    assert "Traceback" not in out + err


def test_container_sigterm_aborts_cleanly_within_the_grace(jes_image, podman_socket, tmp_path):
    """What the kubelet does at activeDeadlineSeconds or eviction: SIGTERM, then SIGKILL after the grace."""
    from jes_runner.emulator import default_scenario

    secrets = make_secrets(tmp_path, "jes", "jes-demo-password")
    results = make_results(tmp_path)
    slow = default_scenario().model_copy(update={"speed_factor": 0.05})  # jobs take seconds
    with Emulator(scenario=slow, host="127.0.0.1", port=0) as emu:
        env = {"JES_VIYA_URL": emu.url, "JES_GRACE_PERIOD_SECONDS": "20", "JES_LOG_FORMAT": "json"}
        container = make_container(jes_image, secrets, results, env, RUN_ARGS)
        container.start()
        try:
            deadline = time.monotonic() + 60
            while not emu.ground_truth()["jobs"]:
                assert time.monotonic() < deadline, "no job was submitted"
                time.sleep(0.2)
            time.sleep(1.0)
            wrapped = container.get_wrapped_container()
            stopped = time.monotonic()
            wrapped.stop(timeout=60)  # SIGTERM; SIGKILL only after 60 s
            code = wrapped.wait(timeout=90)["StatusCode"]
            took = time.monotonic() - stopped
            out, err = container.get_logs()
        finally:
            container.stop()
        truth = emu.ground_truth()["jobs"]
    out, err = out.decode(), err.decode()
    assert code == 143, f"exit {code}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-3000:]}"
    assert took < 25, f"took {took:.1f} s after SIGTERM (grace 20 s)"
    assert "Traceback" not in out + err
    (path,) = results.glob("pooled_jobs_comparison_*.json")
    doc = json.loads(path.read_text())
    assert doc["status"] == "aborted"
    # nothing left running in Viya: the runner canceled what it had submitted
    assert not [j for j in truth if j["state"] in ("pending", "running", "starting")], truth


# -- the Dockerfile builds everywhere a platform team builds (no BuildKit-only syntax) --------

BUILDKIT_ONLY = (
    (r"(?m)^#\s*syntax\s*=", "a `# syntax=` line pulls a BuildKit frontend"),
    (r"--mount=", "RUN --mount needs BuildKit (az acr build does not use it by default)"),
    (r"(?m)^\s*(RUN|COPY)\b.*<<", "heredocs need BuildKit"),
    (r"(?m)^\s*(COPY|ADD)\b.*--(link|chmod|parents|exclude)\b", "BuildKit-only COPY flags"),
    (r"(?m)^\s*RUN\b.*--(network|security)=", "BuildKit-only RUN flags"),
)


def test_dockerfile_uses_the_classic_syntax_only() -> None:
    text = (REPO / "Dockerfile").read_text()
    for pattern, why in BUILDKIT_ONLY:
        assert not re.search(pattern, text), why


def test_license_file_matches_the_image_labels() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert 'org.opencontainers.image.licenses="Apache-2.0"' in text
    license_text = (REPO / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert 'license = { text = "Apache-2.0" }' in (REPO / "pyproject.toml").read_text()
    assert "!LICENSE" in (REPO / ".dockerignore").read_text()


def test_readme_gives_the_platform_hint_for_apple_silicon() -> None:
    readme = (REPO / "README.md").read_text()
    assert "docker build --platform linux/amd64" in readme
    assert "az acr build" in readme and "--secret id=" not in readme
