"""Fixtures for the deployment tests: the Helm chart (rendered with Helm 4 and
Helm 3) and the container image (built with podman, run through testcontainers).

Every tool these tests need is installed by .ci/install-deps; a missing one is
a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from deploy_util import (
    BASE_IMAGE,
    CHART,
    CONTAINERS_CONF,
    HELMS,
    REPO,
    TEST_IMAGE,
    free_port,
    require_tool,
)
from support.servers import stop_process


@pytest.fixture(scope="session")
def helm_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Helm's cache/config/data in a temp dir: no state outside the test run."""
    home = tmp_path_factory.mktemp("helm-home")
    env = dict(os.environ)
    for var, sub in (
        ("HELM_CACHE_HOME", "cache"),
        ("HELM_CONFIG_HOME", "config"),
        ("HELM_DATA_HOME", "data"),
    ):
        env[var] = str(home / sub)
    env["KUBECONFIG"] = str(home / "no-kubeconfig")
    return env


class Helm:
    """One helm binary (v4 `helm` or v3 `helm3`) run against the chart."""

    def __init__(self, binary: str, env: dict[str, str]) -> None:
        self.binary = binary
        self.path = require_tool(binary)
        self.env = env
        self._cache: dict[tuple, list[dict]] = {}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.path, *args], capture_output=True, text=True, env=self.env, timeout=120
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"{self.binary} {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}",
                pytrace=False,
            )
        return proc

    @staticmethod
    def value_args(
        scenario: str = "default",
        sets: dict[str, str] | None = None,
        values: list[Path] | None = None,
    ) -> list[str]:
        # the chart requires the Viya URL (no silent emulator); the default scenario gives one
        args: list[str] = (
            ["--set", "runner.viyaUrl=https://viya.example.com"] if scenario == "default" else []
        )
        if scenario != "default":
            args += ["-f", str(CHART / "ci" / scenario)]
        for path in values or []:
            args += ["-f", str(path)]
        for key, value in (sets or {}).items():
            args += ["--set", f"{key}={value}"]
        return args

    def template(
        self,
        scenario: str = "default",
        sets: dict[str, str] | None = None,
        values: list[Path] | None = None,
        release: str = "jes",
        namespace: str = "sas-bench",
    ) -> list[dict]:
        key = (
            scenario,
            tuple(sorted((sets or {}).items())),
            tuple(map(str, values or [])),
            release,
            namespace,
        )
        if key not in self._cache:
            proc = self.run(
                "template",
                release,
                str(CHART),
                "--namespace",
                namespace,
                *self.value_args(scenario, sets, values),
            )
            self._cache[key] = [d for d in yaml.safe_load_all(proc.stdout) if d]
        return self._cache[key]

    def template_fails(
        self, sets: dict[str, str] | None = None, values: list[Path] | None = None
    ) -> str:
        proc = self.run(
            "template", "jes", str(CHART), *self.value_args("default", sets, values), check=False
        )
        assert proc.returncode != 0, f"{self.binary} accepted bad values {sets or values}"
        return proc.stderr


@pytest.fixture(scope="session", params=HELMS)
def helm(request: pytest.FixtureRequest, helm_env: dict[str, str]) -> Helm:
    return Helm(request.param, helm_env)


@pytest.fixture(scope="session")
def helm4(helm_env: dict[str, str]) -> Helm:
    return Helm("helm", helm_env)


# ---------------------------------------------------------------- containers


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory):
    """podman with runc and the repo's containers.conf, nothing global."""
    for tool in ("podman", "runc", "debootstrap"):
        require_tool(tool)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONTAINERS_CONF", str(CONTAINERS_CONF))
        yield require_tool("podman")


@pytest.fixture(scope="session")
def jes_image(podman) -> str:
    """The image built from the Dockerfile, offline, on the local debootstrap base
    (built once and cached as localhost/python-base:3.11)."""
    proc = subprocess.run(
        [str(REPO / ".ci" / "build-image"), TEST_IMAGE],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "JES_BASE_IMAGE": BASE_IMAGE},
    )
    if proc.returncode != 0:
        pytest.fail(
            f".ci/build-image failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
            f"{proc.stderr[-4000:]}",
            pytrace=False,
        )
    return TEST_IMAGE


@pytest.fixture(scope="session")
def podman_socket(podman, tmp_path_factory: pytest.TempPathFactory):
    """podman's Docker-compatible API for testcontainers, started and stopped here."""
    import time

    sock = tmp_path_factory.mktemp("podman") / "podman.sock"
    log = open(sock.parent / "service.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [podman, "system", "service", "--time=0", f"unix://{sock}"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(
                f"podman system service did not start: {(sock.parent / 'service.log').read_text()}",
                pytrace=False,
            )
        time.sleep(0.1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_HOST", f"unix://{sock}")
        mp.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
        mp.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
        mp.setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
        try:
            yield f"unix://{sock}"
        finally:
            stop_process(proc, timeout=15)
            log.close()


@pytest.fixture(scope="session")
def pushgateway(tmp_path_factory: pytest.TempPathFactory):
    """A real prometheus-pushgateway on a free loopback port; yields its URL."""
    import time
    import urllib.request

    binary = shutil.which("prometheus-pushgateway") or "/usr/bin/prometheus-pushgateway"
    if not os.access(binary, os.X_OK):
        pytest.fail("prometheus-pushgateway is not installed: run .ci/install-deps", pytrace=False)
    work = tmp_path_factory.mktemp("pushgateway")
    port = free_port()
    log = open(work / "log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        # its own persistence file: Debian's default one is shared by every gateway on the machine
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            f"--persistence.file={work / 'metrics.db'}",
        ],
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            log.close()
            pytest.fail(
                f"prometheus-pushgateway did not start: {(work / 'log').read_text()}", pytrace=False
            )
        time.sleep(0.1)
    try:
        yield url
    finally:
        stop_process(proc)
        log.close()
