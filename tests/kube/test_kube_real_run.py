"""A whole `jes-runner run` as the chart's ServiceAccount on a real API server, then `helm upgrade`.

Viya is the emulator (rotating refresh tokens, 0.5 s access tokens, so the run
refreshes and writes back several times); Kubernetes is the real control plane:
the chart's Secret receives the rotated tokens through the runner's write-back,
the node timeline comes from a real list + watch, and afterwards Helm 4 upgrades
the release both ways (keep the runner's tokens, replace them).
"""

from __future__ import annotations

import base64
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.kube_control_plane import CHART, RESTRICTED, ControlPlane
from support.kube_support import latest_results, password_login, refresh_ok, run_cli

from jes_runner.kube.tokens import FIELD_MANAGER

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

RELEASE, FULLNAME = "bench", "bench-jes-runner"


def _secret(cp: ControlPlane, ns: str) -> tuple[dict[str, str], Any]:
    s = cp.core().read_namespaced_secret(FULLNAME, ns)
    return {k: base64.b64decode(v).decode() for k, v in (s.data or {}).items()}, s


def _helm(cp: ControlPlane, verb: str, ns: str, values: dict[str, str]) -> Any:
    helm = shutil.which("helm")
    if not helm:
        pytest.fail("'helm' is not installed: run .ci/install-helm", pytrace=False)
    sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    return cp.run(helm, verb, RELEASE, str(CHART), "--namespace", ns, *sets, check=False)


def test_run_writes_rotated_tokens_back_and_helm4_upgrades_after(
    kube_control_plane: ControlPlane,
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cp = kube_control_plane
    emu = make_emulator(
        speed_factor=0.002, auth={"rotate_refresh_tokens": True, "access_token_lifetime_s": 0.5}
    )
    rt0 = password_login(emu)["refresh_token"]
    ns = cp.namespace("run", RESTRICTED)
    values = {
        "runner.viyaUrl": emu.url,
        "credentials.refreshToken": rt0,
        "credentials.clientId": "sas.cli",
        "rbac.nodeReader": "true",  # off by default (cluster-admin to install); the timeline needs it
    }
    installed = _helm(cp, "install", ns, values)
    assert installed.returncode == 0, installed.stderr

    # the pod's view: the ServiceAccount's token, the mounted Secret, a compute node to watch
    sa_kubeconfig = cp.kubeconfig_for(
        cp.service_account_token(ns, FULLNAME), tmp_path / "sa-kubeconfig", ns
    )
    label = uuid.uuid4().hex[:8]
    node = f"aks-compute-{label}-vmss000000"
    cp.core().create_node({"metadata": {"name": node, "labels": {"jes-test": label}}})
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "refresh_token").write_text(rt0 + "\n")
    (secrets / "client_id").write_text("sas.cli\n")
    for k, v in {
        "KUBECONFIG": str(sa_kubeconfig),
        "JES_SECRETS_DIR": str(secrets),
        "JES_PERSIST_TOKENS": "secret",
        "JES_TOKEN_SECRET_NAME": FULLNAME,
        "JES_TOKEN_SECRET_NAMESPACE": ns,
        "JES_NODE_SELECTOR": f"jes-test={label}",
    }.items():
        monkeypatch.setenv(k, v)

    try:
        code = run_cli(
            ["run", "--viya-url", emu.url, "--limit-jobs", "6", "--mode", "window",
             "--concurrent", "3", "--no-report"]
        )  # fmt: skip
    finally:
        cp.core().delete_node(node)
    assert code == 0
    assert emu.tokens.rotated >= 3
    data, secret = _secret(cp, ns)
    live = data["refresh_token"]
    assert live != rt0 and refresh_ok(emu.url, live) and not refresh_ok(emu.url, rt0)
    assert data["client_id"] == "sas.cli"
    assert FIELD_MANAGER not in [e.manager for e in secret.metadata.managed_fields]
    err = capsys.readouterr().err
    assert f"new refresh token saved to Secret {ns}/{FULLNAME}" in err
    assert live not in err and rt0 not in err
    res = latest_results(kube_env)
    for phase in res["phases"]:  # the timeline came from the real API, as the ServiceAccount
        assert phase["scaling"]["source"] == "kubernetes", phase["scaling"]

    # day 2: an upgrade keeps the runner's live token ...
    kept = _helm(cp, "upgrade", ns, values)
    assert kept.returncode == 0, kept.stderr
    assert _secret(cp, ns)[0]["refresh_token"] == live
    # ... and the documented way to replace it works on Helm 4 (server-side apply)
    fresh = password_login(emu)["refresh_token"]
    replaced = _helm(
        cp,
        "upgrade",
        ns,
        {
            **values,
            "credentials.refreshToken": fresh,
            "credentials.preserveRefreshedTokens": "false",
        },
    )
    assert replaced.returncode == 0, replaced.stderr
    assert _secret(cp, ns)[0]["refresh_token"] == fresh
    cp.core().delete_namespace(ns)
