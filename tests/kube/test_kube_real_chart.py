"""The chart against a real kube-apiserver: install, PodSecurity "restricted", upgrade after a write-back.

Both Helm versions: Helm 4 (``helm``) applies server-side, so field ownership
matters; Helm 3 (``helm3``) patches client-side (three-way merge).

The upgrade tests are the regression test of a bug only a real server shows:
after the runner wrote a rotated refresh token back to the chart's Secret, the
documented way to replace tokens (``helm upgrade --set
credentials.preserveRefreshedTokens=false``) failed on Helm 4 with a
field-manager conflict on ``.data.refresh_token``. The runner now gives up the
ownership its patch took (``SecretStore._release_ownership``);
:func:`test_control_a_write_back_that_keeps_ownership_breaks_helm4_upgrade`
shows the conflict is real when it does not.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.kube_control_plane import CHART, RESTRICTED, ControlPlane

from jes_runner.kube import SecretStore
from jes_runner.kube.tokens import FIELD_MANAGER

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

HELMS = ["helm", "helm3"]
RELEASE = "bench"
FULLNAME = "bench-jes-runner"
VIYA = {"runner.viyaUrl": "https://viya.example.com"}


def _sets(values: dict[str, str]) -> list[str]:
    return [arg for k, v in values.items() for arg in ("--set", f"{k}={v}")]


def _helm(cp: ControlPlane, helm: str, *args: str, check: bool = True) -> Any:
    path = shutil.which(helm)
    if not path:
        pytest.fail(f"'{helm}' is not installed: run .ci/install-helm", pytrace=False)
    return cp.run(path, *args, check=check)


def _install(cp: ControlPlane, helm: str, ns: str, values: dict[str, str], *extra: str) -> Any:
    return _helm(
        cp, helm, "install", RELEASE, str(CHART), "--namespace", ns, *extra, *_sets(values)
    )


def _manifest(cp: ControlPlane, helm: str, ns: str, what: str = "manifest") -> list[dict[str, Any]]:
    out = _helm(cp, helm, "get", what, RELEASE, "--namespace", ns).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _secret_data(cp: ControlPlane, ns: str, name: str) -> dict[str, str]:
    s = cp.core().read_namespaced_secret(name, ns)
    return {k: base64.b64decode(v).decode() for k, v in (s.data or {}).items()}


def _owners(cp: ControlPlane, ns: str, name: str, key: str) -> list[str]:
    """Managers owning ``.data.<key>`` of a Secret (manager/operation)."""
    s = cp.core().read_namespaced_secret(name, ns)
    out = []
    for e in s.metadata.managed_fields or []:
        if f"f:{key}" in ((e.fields_v1 or {}).get("f:data") or {}):
            out.append(f"{e.manager}/{e.operation}")
    return out


def _pod_from_template(template: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, **template.get("metadata", {})},
        "spec": template["spec"],
    }


def _server_dry_run(cp: ControlPlane, ns: str, obj: dict[str, Any], tmp: Path) -> Any:
    path = tmp / f"{obj['metadata']['name']}.json"
    path.write_text(json.dumps(obj))
    return cp.run("kubectl", "create", "--dry-run=server", "-n", ns, "-f", str(path), check=False)


@pytest.mark.parametrize("scenario", ["default", "existing-secret-values.yaml"])
@pytest.mark.parametrize("helm", HELMS)
def test_chart_installs_into_a_restricted_namespace(
    helm: str, scenario: str, kube_control_plane: ControlPlane, tmp_path: Path
) -> None:
    cp = kube_control_plane
    ns = cp.namespace("chart", RESTRICTED)
    extra: list[str] = []
    if scenario != "default":
        extra = ["-f", str(CHART / "ci" / scenario)]
        # what the scenario refers to, as a platform team would have it
        cp.core().create_namespaced_config_map(
            ns, {"metadata": {"name": "viya-ca"}, "data": {"ca.crt": "x"}}
        )
        cp.core().create_namespaced_secret(
            ns,
            {
                "metadata": {"name": "viya-oauth"},
                "stringData": {"token": "t", "client": "c", "secret": "s"},
            },
        )
    proc = _install(cp, helm, ns, VIYA, *extra)
    # the API server's PodSecurity admission warns about a non-compliant pod template: none here
    assert "PodSecurity" not in proc.stderr + proc.stdout

    docs = _manifest(cp, helm, ns)
    kinds = sorted(d["kind"] for d in docs)
    # rbac.nodeReader is off by default (it needs cluster-admin to install): no ClusterRole. The one
    # Secret is the credentials Secret, or with an existing one the runner-owned tokens Secret
    expected = [
        "CronJob",
        "PersistentVolumeClaim",
        "Role",
        "RoleBinding",
        "Secret",
        "ServiceAccount",
    ]
    assert kinds == sorted(expected)
    (secret,) = [d for d in docs if d["kind"] == "Secret"]
    assert secret["metadata"]["name"] == (
        FULLNAME if scenario == "default" else f"{FULLNAME}-tokens"
    )
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    got = cp.run("kubectl", "get", "-n", ns, "-f", str(path), "-o", "name").stdout.split()
    assert len(got) == len(docs)  # every object the chart rendered exists on the server

    role = next(d for d in docs if d["kind"] == "Role")
    secret_name = FULLNAME if scenario == "default" else "viya-oauth"
    assert role["rules"][0]["resourceNames"] == [secret_name]

    # The pods the chart makes are admitted by "restricted" (server-side dry run through admission):
    # the CronJob's pod template and the `helm test` pod.
    cron = next(d for d in docs if d["kind"] == "CronJob")
    (test_pod,) = [d for d in _manifest(cp, helm, ns, "hooks") if d["kind"] == "Pod"]
    for pod in (
        _pod_from_template(cron["spec"]["jobTemplate"]["spec"]["template"], "runner-pod"),
        test_pod,
    ):
        dry = _server_dry_run(cp, ns, pod, tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "PodSecurity" not in dry.stderr
    # ... and the namespace does enforce it: the same pod allowing privilege escalation is refused.
    bad = _pod_from_template(cron["spec"]["jobTemplate"]["spec"]["template"], "escalating-pod")
    bad["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = _server_dry_run(cp, ns, bad, tmp_path)
    assert refused.returncode != 0
    assert (
        'violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false'
        in refused.stderr
    )

    _helm(cp, helm, "uninstall", RELEASE, "--namespace", ns)
    cp.core().delete_namespace(ns)


def _seeded(n: int, preserve: bool) -> dict[str, str]:
    return {
        **VIYA,
        "credentials.refreshToken": f"seed-refresh-{n}",
        "credentials.accessToken": f"seed-access-{n}",
        "credentials.clientId": "sas.cli",
        "credentials.preserveRefreshedTokens": str(preserve).lower(),
    }


@pytest.mark.parametrize("preserve", [True, False], ids=["preserve", "replace"])
@pytest.mark.parametrize("helm", HELMS)
def test_upgrade_after_token_write_back(
    helm: str, preserve: bool, kube_control_plane: ControlPlane
) -> None:
    cp = kube_control_plane
    ns = cp.namespace("upgrade", RESTRICTED)
    _install(cp, helm, ns, _seeded(1, True))
    assert _secret_data(cp, ns, FULLNAME)["refresh_token"] == "seed-refresh-1"
    # the runner, as the chart's ServiceAccount (a TokenRequest token, what its pod mounts)
    store = SecretStore(cp.access(cp.service_account_token(ns, FULLNAME)), ns, FULLNAME)

    for n in (2, 3):  # write back, upgrade; twice: after an upgrade Helm owns the key again
        rotated = f"rotated-refresh-{n}"
        assert store.save({"refresh_token": rotated}) == ["refresh_token"]
        assert _secret_data(cp, ns, FULLNAME)["refresh_token"] == rotated
        # the patch left no ownership behind: the key is Helm's to replace
        assert not any(
            o.startswith(FIELD_MANAGER) for o in _owners(cp, ns, FULLNAME, "refresh_token")
        )

        proc = _helm(
            cp,
            helm,
            "upgrade",
            RELEASE,
            str(CHART),
            "--namespace",
            ns,
            *_sets(_seeded(n, preserve)),
            check=False,
        )
        assert proc.returncode == 0, f"{helm} upgrade failed:\n{proc.stderr}"
        data = _secret_data(cp, ns, FULLNAME)
        if preserve:  # the chart looked the live Secret up and kept the runner's tokens
            assert (data["refresh_token"], data["access_token"]) == (rotated, f"seed-access-{1}")
        else:  # the new values replace them
            assert (data["refresh_token"], data["access_token"]) == (
                f"seed-refresh-{n}",
                f"seed-access-{n}",
            )
        assert data["client_id"] == "sas.cli"
    cp.core().delete_namespace(ns)


def test_control_a_write_back_that_keeps_ownership_breaks_helm4_upgrade(
    kube_control_plane: ControlPlane,
) -> None:
    """Why the release matters: the write-back as it was (the kubernetes client's default manager, an
    Update that keeps ``.data.refresh_token``) makes Helm 4's server-side upgrade conflict."""
    cp = kube_control_plane
    ns = cp.namespace("conflict", RESTRICTED)
    _install(cp, "helm", ns, _seeded(1, True))
    b64 = base64.b64encode(b"rotated-refresh").decode()
    cp.core().patch_namespaced_secret(
        FULLNAME, ns, {"data": {"refresh_token": b64}}, _content_type="application/merge-patch+json"
    )
    assert _owners(cp, ns, FULLNAME, "refresh_token") == ["OpenAPI-Generator/Update"]
    proc = _helm(
        cp,
        "helm",
        "upgrade",
        RELEASE,
        str(CHART),
        "--namespace",
        ns,
        *_sets(_seeded(2, False)),
        check=False,
    )
    assert proc.returncode != 0
    assert "conflict" in proc.stderr.lower() and ".data.refresh_token" in proc.stderr
    cp.core().delete_namespace(ns)


@pytest.mark.services
def test_network_policy_is_accepted_by_the_api_server(
    kube_control_plane: ControlPlane, tmp_path: Path
) -> None:
    """The rendered NetworkPolicy (Pushgateway in another namespace, API server egress) is
    stored by a real kube-apiserver as rendered: validation keeps every peer."""
    cp = kube_control_plane
    ns = cp.namespace("netpol", RESTRICTED)
    values = {
        **VIYA,
        "runner.pushgatewayUrl": "http://prometheus-pushgateway.monitoring:9091",
        "networkPolicy.enabled": "true",
    }
    _install(cp, "helm", ns, values)
    (rendered,) = [d for d in _manifest(cp, "helm", ns) if d["kind"] == "NetworkPolicy"]
    stored = json.loads(
        cp.run("kubectl", "get", "networkpolicy", "-n", ns, FULLNAME, "-o", "json").stdout
    )
    assert stored["spec"]["egress"] == rendered["spec"]["egress"]
    peers = [peer for rule in stored["spec"]["egress"] for peer in rule.get("to", [])]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus-pushgateway"}},
    } in peers
    ports = [{p["port"] for p in rule["ports"]} for rule in stored["spec"]["egress"]]
    assert {443, 6443} in ports  # the API server: token write-back is on by default
    _helm(cp, "helm", "uninstall", RELEASE, "--namespace", ns)
    cp.core().delete_namespace(ns)


@pytest.mark.services
def test_two_targets_install_into_a_restricted_namespace(
    kube_control_plane: ControlPlane, tmp_path: Path
) -> None:
    """ci/targets-values.yaml (two Viya environments, trend after each run, NetworkPolicy on):
    installed by a real kube-apiserver in a `restricted` namespace, each CronJob's pod
    template admitted by PodSecurity through a server-side dry run."""
    cp = kube_control_plane
    ns = cp.namespace("targets", RESTRICTED)
    for secret in ("viya-dev", "viya-prod"):  # the targets' own credentials, as a team has them
        cp.core().create_namespaced_secret(
            ns, {"metadata": {"name": secret}, "stringData": {"refresh_token": "t"}}
        )
    proc = _install(cp, "helm", ns, {}, "-f", str(CHART / "ci" / "targets-values.yaml"))
    assert "PodSecurity" not in proc.stderr + proc.stdout
    docs = _manifest(cp, "helm", ns)
    crons = [d for d in docs if d["kind"] == "CronJob"]
    assert sorted(c["metadata"]["name"] for c in crons) == [f"{FULLNAME}-dev", f"{FULLNAME}-prod"]
    for cron in crons:
        stored = json.loads(
            cp.run(
                "kubectl", "get", "cronjob", "-n", ns, cron["metadata"]["name"], "-o", "json"
            ).stdout
        )
        env = {
            e["name"]: e.get("value")
            for e in stored["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0][
                "env"
            ]
        }
        target = cron["metadata"]["name"].rsplit("-", 1)[1]
        assert env["JES_PROFILE"] == f"{RELEASE}-{target}"
        assert env["JES_OUTPUT_DIR"] == f"/results/{target}"
        pod = _pod_from_template(
            stored["spec"]["jobTemplate"]["spec"]["template"], f"runner-{target}"
        )
        dry = _server_dry_run(cp, ns, pod, tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "PodSecurity" not in dry.stderr
    (test_pod,) = [d for d in _manifest(cp, "helm", ns, "hooks") if d["kind"] == "Pod"]
    dry = _server_dry_run(cp, ns, test_pod, tmp_path)
    assert dry.returncode == 0 and "PodSecurity" not in dry.stderr, dry.stderr
    path = tmp_path / "manifest.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    got = cp.run("kubectl", "get", "-n", ns, "-f", str(path), "-o", "name").stdout.split()
    assert len(got) == len(docs)  # every object the chart rendered exists on the server
    _helm(cp, "helm", "uninstall", RELEASE, "--namespace", ns)
    cp.core().delete_namespace(ns)
