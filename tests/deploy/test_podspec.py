"""The pod-spec -> `podman run` translator (tests/deploy/podspec.py), without running podman."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from podspec import Cluster, TranslationError, podman_run_args, quantity

BASE_POD = {
    "restartPolicy": "Never",
    "terminationGracePeriodSeconds": 90,
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [
        {
            "name": "jes-runner",
            "image": "ghcr.io/x/y:1",
            "args": ["run", "--limit-jobs", "2"],
            "env": [
                {"name": "A", "value": "1"},
                {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "auth", "key": "pass"}}},
                {
                    "name": "OPT",
                    "valueFrom": {
                        "secretKeyRef": {"name": "auth", "key": "nope", "optional": True}
                    },
                },
            ],
            "envFrom": [{"configMapRef": {"name": "extra"}, "prefix": "X_"}],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
            "resources": {"requests": {"cpu": "100m"}, "limits": {"memory": "1Gi", "cpu": "500m"}},
            "volumeMounts": [
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "results", "mountPath": "/results"},
                {"name": "credentials", "mountPath": "/var/run/secrets/jes", "readOnly": True},
            ],
        }
    ],
    "volumes": [
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "results", "persistentVolumeClaim": {"claimName": "r"}},
        {
            "name": "credentials",
            "secret": {
                "secretName": "creds",
                "defaultMode": 0o440,
                "items": [{"key": "token", "path": "refresh_token"}],
            },
        },
    ],
}


def cluster(tmp_path: Path) -> Cluster:
    return Cluster(
        secrets={"auth": {"pass": "s3cret"}, "creds": {"token": "rt-1", "other": "x"}},
        config_maps={"extra": {"B": "2"}},
        claims={"r": tmp_path / "pvc"},
    )


def test_the_charts_shape_becomes_these_flags(tmp_path: Path) -> None:
    args = podman_run_args(
        BASE_POD, cluster(tmp_path), tmp_path / "work", image="localhost/jes:test"
    )
    text = " ".join(args)
    assert "--user 10001:10001" in text and "--group-add 10001" in text
    assert "--read-only --read-only-tmpfs=false" in text
    assert "--cap-drop=ALL" in args and "no-new-privileges" in args
    assert f"--memory {2**30}" in text and "--cpus 0.5" in text and "--stop-timeout 90" in text
    env = [args[i + 1] for i, a in enumerate(args) if a == "-e"]
    # envFrom first, env over it; an optional missing key skipped
    assert env == [
        "X_B=2",
        "A=1",
        "PW=s3cret",
    ]
    assert f"--tmpfs /tmp:rw,mode=1777,size={256 * 2**20}" in text
    assert f"-v {tmp_path / 'pvc'}:/results:rw" in text
    assert f"-v {tmp_path / 'work' / 'credentials'}:/var/run/secrets/jes:ro" in text
    assert args[-4:] == ["localhost/jes:test", "run", "--limit-jobs", "2"]


def test_volumes_are_laid_out_like_the_kubelet(tmp_path: Path) -> None:
    podman_run_args(BASE_POD, cluster(tmp_path), tmp_path / "work", image="i")
    secret_dir = tmp_path / "work" / "credentials"
    assert sorted(p.name for p in secret_dir.iterdir()) == ["refresh_token"]  # only the mapped item
    f = secret_dir / "refresh_token"
    assert f.read_text() == "rt-1"  # decoded, not base64
    assert stat.S_IMODE(f.stat().st_mode) == 0o440 and f.stat().st_gid == 10001
    pvc = (tmp_path / "pvc").stat()
    assert pvc.st_gid == 10001 and stat.S_IMODE(pvc.st_mode) == 0o2775


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p: p.update(hostNetwork=True), "hostNetwork"),
        (lambda p: p["containers"][0].update(lifecycle={}), "lifecycle"),
        (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "privileged"),
        (lambda p: p["securityContext"].update(runAsUser=0), "runAsNonRoot"),
        (
            lambda p: p["containers"][0]["env"].append(
                {"name": "M", "valueFrom": {"secretKeyRef": {"name": "auth", "key": "missing"}}}
            ),
            "no key 'missing'",
        ),
        (
            lambda p: p["volumes"][1]["persistentVolumeClaim"].update(claimName="other"),
            "no host directory",
        ),
        (lambda p: p["containers"][0]["volumeMounts"][0].update(subPath="x"), "subPath"),
        (
            lambda p: (
                p["volumes"].append({"name": "h", "hostPath": {"path": "/"}})
                or p["containers"][0]["volumeMounts"].append({"name": "h", "mountPath": "/h"})
            ),
            "unsupported source",
        ),
    ],
)
def test_what_it_cannot_run_faithfully_is_an_error(tmp_path: Path, change, message: str) -> None:
    import copy

    pod = copy.deepcopy(BASE_POD)
    change(pod)
    with pytest.raises(TranslationError, match=message):
        podman_run_args(pod, cluster(tmp_path), tmp_path / "work", image="i")


def test_quantities() -> None:
    assert quantity("256Mi") == 256 * 2**20 and quantity("1G") == 10**9 and quantity("500m") == 0.5
    assert quantity(2) == 2
    with pytest.raises(TranslationError):
        quantity("lots")
