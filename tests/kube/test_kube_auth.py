"""`jes-runner auth`: password grant to files, auth-code on stdin, manifest, Secret via the API, --refresh, --show."""

from __future__ import annotations

import base64
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import requests
import yaml
from support.kube_support import REPO, refresh_ok, run_cli, subprocess_env

from jes_runner.viya import jwt_expiry

JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def _files(d: Path) -> dict[str, str]:
    return {p.name: p.read_text().strip() for p in d.iterdir() if not p.name.startswith(".")}


def test_password_grant_to_token_files_then_show_and_refresh(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(auth={"rotate_refresh_tokens": True})
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    d = tmp_path / "tokens"
    assert (
        run_cli(["auth", "--viya-url", emu.url, "--grant", "password", "--secrets-dir", str(d)])
        == 0
    )
    files = _files(d)
    assert (
        set(files) == {"access_token", "refresh_token", "client_id"}
        and files["client_id"] == "sas.cli"
    )
    assert all(stat.S_IMODE((d / k).stat().st_mode) == 0o600 for k in files)
    # a live token (rotation: now replaced)
    assert refresh_ok(emu.url, files["refresh_token"]) is True
    out = capsys.readouterr().out
    assert f"in token files in {d}" in out and "subject jes" in out
    assert files["refresh_token"] not in out and not JWT.search(out)

    # --refresh: log in again to get a live pair, then let the command renew and rewrite it
    assert (
        run_cli(["auth", "--viya-url", emu.url, "--grant", "password", "--secrets-dir", str(d)])
        == 0
    )
    before = _files(d)
    assert run_cli(["auth", "--viya-url", emu.url, "--refresh", "--secrets-dir", str(d)]) == 0
    after = _files(d)
    assert (
        after["refresh_token"] != before["refresh_token"]
        and after["access_token"] != before["access_token"]
    )
    assert not refresh_ok(emu.url, before["refresh_token"])  # rotated away by --refresh
    capsys.readouterr()

    assert run_cli(["auth", "--show", "--secrets-dir", str(d)]) == 0
    shown = capsys.readouterr().out
    exp = jwt_expiry(after["access_token"])
    assert exp is not None
    assert "access token: subject jes, client sas.cli, expires" in shown and re.search(
        r"\(in (59|60)\.\d min\)", shown
    )
    assert "refresh token: present (opaque" in shown
    assert (
        after["access_token"] not in shown
        and after["refresh_token"] not in shown
        and not JWT.search(shown)
    )


def test_authorization_code_pasted_on_stdin(
    make_emulator: Callable[..., Any], tmp_path: Path
) -> None:
    emu = make_emulator()
    page = requests.get(
        f"{emu.url}/SASLogon/oauth/authorize",
        params={"client_id": "sas.cli", "response_type": "code"},
        timeout=5,
    ).text
    m = re.search(r'<p id="code">([^<]+)</p>', page)
    assert m
    d = tmp_path / "tokens"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jes_runner",
            "auth",
            "--viya-url",
            emu.url,
            "--grant",
            "code",
            "--secrets-dir",
            str(d),
        ],
        input=m.group(1) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(HOME=str(tmp_path)),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{emu.url}/SASLogon/oauth/authorize?client_id=sas.cli&response_type=code" in proc.stderr
    assert "code: " in proc.stderr
    files = _files(d)
    assert refresh_ok(emu.url, files["refresh_token"])
    assert files["refresh_token"] not in proc.stdout + proc.stderr and not JWT.search(
        proc.stdout + proc.stderr
    )

    # a wrong code: one error line, exit 2
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "jes_runner",
            "auth",
            "--viya-url",
            emu.url,
            "--grant",
            "code",
            "--secrets-dir",
            str(d),
        ],
        input="not-a-code\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(HOME=str(tmp_path)),
        cwd=REPO,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip()
        .splitlines()[-1]
        .startswith("error: SASLogon refused the authorization_code grant")
    )


def test_manifest_for_kubectl_apply(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator()
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", emu.password)
    assert (
        run_cli(
            [
                "auth",
                "--viya-url",
                emu.url,
                "--secret",
                "jes-tokens",
                "--namespace",
                "viya-tools",
                "--manifest",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    doc = yaml.safe_load(cap.out)  # stdout is the manifest and nothing else
    assert (doc["apiVersion"], doc["kind"], doc["type"]) == ("v1", "Secret", "Opaque")
    assert doc["metadata"]["name"] == "jes-tokens" and doc["metadata"]["namespace"] == "viya-tools"
    kubernetes_validate.validate(doc, "1.33", strict=True)
    data = {k: base64.b64decode(v).decode() for k, v in doc["data"].items()}
    assert set(data) == {"access_token", "refresh_token", "client_id"}
    assert refresh_ok(emu.url, data["refresh_token"])
    assert "kubectl apply -f -" in cap.err


def test_secret_through_the_kubernetes_api_create_then_patch_and_show(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(kubernetes={"token": "sa-token"})
    for k, v in {
        "JES_USERNAME": emu.username,
        "JES_PASSWORD": emu.password,
        "JES_KUBE_API_TOKEN": "sa-token",
        "JES_TOKEN_SECRET_NAMESPACE": "jes",
    }.items():
        monkeypatch.setenv(k, v)
    args = ["--secret", "jes-runner-tokens", "--kube-api-url", emu.url]
    assert run_cli(["auth", "--viya-url", emu.url, *args]) == 0
    first = emu.k8s.secret_data("jes", "jes-runner-tokens")
    assert first is not None and set(first) == {"access_token", "refresh_token", "client_id"}
    assert emu.k8s.counts["create secret"] == 1
    assert run_cli(["auth", "--viya-url", emu.url, *args, "--refresh"]) == 0
    second = emu.k8s.secret_data("jes", "jes-runner-tokens")
    assert second is not None
    # no rotation: only the access token changed
    assert second["refresh_token"] == first["refresh_token"]
    assert second["access_token"] != first["access_token"] and emu.k8s.counts["patch secret"] == 1
    out = capsys.readouterr().out
    assert "updated access_token in Secret jes/jes-runner-tokens" in out
    assert run_cli(["auth", "--show", *args]) == 0
    shown = capsys.readouterr().out
    assert "source: Secret jes/jes-runner-tokens" in shown and "subject jes" in shown
    for v in second.values():
        if v != "sas.cli":
            assert v not in shown + out
    assert not JWT.search(shown + out)


def test_show_without_tokens_and_secret_without_cluster(
    kube_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["auth", "--show", "--secrets-dir", str(tmp_path / "empty")]) == 2
    assert "no tokens in token files in" in capsys.readouterr().err
    assert (
        run_cli(
            ["auth", "--viya-url", "http://127.0.0.1:9", "--secret", "x", "--grant", "password"]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "no Kubernetes API" in err and "--manifest" in err
