"""Tokens from and back to Secrets: rotation written back through the kubernetes client, reloads, failures."""

from __future__ import annotations

import re
import stat
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.kube_support import kube_api, password_login, refresh_ok, run_cli, token_grant

from jes_runner.cli.session import make_client
from jes_runner.config.settings import load_settings
from jes_runner.kube.lifecycle import KubeLifecycle
from jes_runner.kube.tokens import SecretsDirReloader

NS, NAME, KUBE_TOKEN = "jes", "jes-runner-tokens", "kube-sa-token"
JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")


def _no_token_values(text: str, *tokens: str) -> None:
    for t in tokens:
        assert t not in text
    assert not JWT.search(text), "an access token was logged"


def test_rotated_refresh_tokens_are_written_back_to_the_secret(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(
        speed_factor=0.002,
        auth={"rotate_refresh_tokens": True, "access_token_lifetime_s": 0.5},
        kubernetes={"token": KUBE_TOKEN},
    )
    rt0 = password_login(emu)["refresh_token"]
    emu.k8s.put_secret(
        NS, NAME, {"refresh_token": rt0, "access_token": "stale-access", "note": "keep-me"}
    )
    secrets = tmp_path / "secrets"  # the mounted copy the runner reads its credentials from
    secrets.mkdir()
    (secrets / "refresh_token").write_text(rt0 + "\n")
    (secrets / "client_id").write_text("sas.cli\n")
    for k, v in {
        "JES_SECRETS_DIR": str(secrets),
        "JES_PERSIST_TOKENS": "secret",
        "JES_TOKEN_SECRET_NAME": NAME,
        "JES_TOKEN_SECRET_NAMESPACE": NS,
        "JES_KUBE_API_URL": emu.url,
        "JES_KUBE_API_TOKEN": KUBE_TOKEN,
    }.items():
        monkeypatch.setenv(k, v)
    patches_before = emu.k8s.counts["patch secret"]

    assert (
        run_cli(
            [
                "run",
                "--viya-url",
                emu.url,
                "--limit-jobs",
                "6",
                "--mode",
                "window",
                "--concurrent",
                "3",
                "--no-report",
            ]
        )
        == 0
    )

    # the 0.5 s access tokens were refreshed several times, each rotating
    assert emu.tokens.rotated >= 3
    data = emu.k8s.secret_data(NS, NAME)
    assert data is not None and data["refresh_token"] != rt0
    assert refresh_ok(emu.url, data["refresh_token"])  # the Secret holds the live token ...
    assert not refresh_ok(emu.url, rt0)  # ... the one the run started with is revoked
    # only the changed key patched
    assert (data["access_token"], data["note"]) == (
        "stale-access",
        "keep-me",
    )
    assert emu.k8s.counts["patch secret"] > patches_before
    # read back through the real client too: base64 data, a newer resourceVersion
    secret = kube_api(emu.url, KUBE_TOKEN).read_namespaced_secret(NAME, NS)
    assert set(secret.data) == {"refresh_token", "access_token", "note"}
    cap = capsys.readouterr()
    out = cap.out + cap.err  # log lines are on stderr
    assert "new refresh token saved to Secret jes/jes-runner-tokens" in cap.err
    _no_token_values(out, rt0, data["refresh_token"])


@pytest.mark.parametrize("problem", ["missing-secret", "forbidden"])
def test_persist_failure_is_one_warning_not_a_failed_run(
    problem: str,
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu = make_emulator(speed_factor=0.002, kubernetes={"forbidden": problem == "forbidden"})
    for k, v in {
        "JES_USERNAME": emu.username,
        "JES_PASSWORD": emu.password,
        "JES_TOKEN_SECRET_NAME": NAME,
        "JES_TOKEN_SECRET_NAMESPACE": NS,
        "JES_KUBE_API_URL": emu.url,
    }.items():
        monkeypatch.setenv(k, v)
    assert (
        run_cli(
            ["run", "--viya-url", emu.url, "--limit-jobs", "2", "--sequential-only", "--no-report"]
        )
        == 0
    )
    cap = capsys.readouterr()
    out = cap.out + cap.err
    warnings = [ln for ln in cap.err.splitlines() if "could not persist" in ln]
    assert len(warnings) == 1, warnings
    assert ("does not exist" if problem == "missing-secret" else "HTTP 403") in warnings[0]
    assert "WARNING" in warnings[0] and "the run goes on" in warnings[0]
    _no_token_values(out, emu.password)


def test_file_mode_rewrites_the_token_file(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    emu = make_emulator(
        speed_factor=0.002, auth={"rotate_refresh_tokens": True, "access_token_lifetime_s": 0.4}
    )
    secrets = tmp_path / "tokens"
    secrets.mkdir()
    rt0 = password_login(emu)["refresh_token"]
    (secrets / "refresh_token").write_text(rt0)
    monkeypatch.setenv("JES_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("JES_PERSIST_TOKENS", "file")
    assert (
        run_cli(["run", "--viya-url", emu.url, "--limit-jobs", "4", "--mode", "all", "--no-report"])
        == 0
    )
    stored = (secrets / "refresh_token").read_text().strip()
    assert stored != rt0 and refresh_ok(emu.url, stored) and not refresh_ok(emu.url, rt0)
    assert stat.S_IMODE((secrets / "refresh_token").stat().st_mode) == 0o600


def test_a_refreshed_secret_is_picked_up_at_phase_start(
    make_emulator: Callable[..., Any], kube_env: Path, tmp_path: Path
) -> None:
    emu = make_emulator(auth={"rotate_refresh_tokens": True, "access_token_lifetime_s": 0.3})
    secrets = tmp_path / "mounted"
    secrets.mkdir()
    rt_a = password_login(emu)["refresh_token"]
    (secrets / "refresh_token").write_text(rt_a)
    settings = load_settings(
        viya_url=emu.url, secrets_dir=secrets, persist_tokens="off", node_timeline="off"
    )
    lc = KubeLifecycle(settings)
    client = make_client(settings, on_refresh_token=lc.new_refresh_token)
    lc.client = client
    assert client.list_contexts()  # first token: from rt_a
    # an operator renews the tokens meanwhile (rotation revokes what the runner holds) and the Secret is updated
    held = client.auth.creds.refresh_token
    assert held is not None
    renewed = token_grant(emu.url, {"grant_type": "refresh_token", "refresh_token": held}).json()[
        "refresh_token"
    ]
    (secrets / "refresh_token").write_text(renewed + "\n")
    phase = types.SimpleNamespace(name="async", cold_start=False)
    lc.phase_started(phase)  # type: ignore[arg-type]
    assert client.auth.creds.refresh_token == renewed
    time.sleep(0.35)  # the access token expires: the next call refreshes with the renewed token
    assert client.list_contexts()
    # rotated again, all in-process
    assert client.auth.creds.refresh_token not in (
        rt_a,
        held,
        renewed,
    )
    lc.close()
    client.close()


def test_stale_mount_never_brings_back_a_replaced_token(tmp_path: Path) -> None:
    (tmp_path / "refresh_token").write_text("X")
    r = SecretsDirReloader(tmp_path)
    r.replaced("X")  # the runner moved X -> Y, then Y -> Z (and wrote Z to the Secret)
    r.replaced("Y")
    (tmp_path / "refresh_token").write_text("Y")  # the kubelet catches up one write late
    assert r.changes() == {}
    (tmp_path / "refresh_token").write_text("Z")
    assert r.changes() == {"refresh_token": "Z"}  # ours: adopting it is a no-op
    (tmp_path / "client_id").write_text("jes-runner")
    (tmp_path / "refresh_token").write_text("W")  # someone else renewed: picked up
    assert r.changes() == {"client_id": "jes-runner", "refresh_token": "W"}
