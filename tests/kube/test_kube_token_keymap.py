"""Token write-back with the chart's key map and operator-owned Secrets, against the emulator's
Kubernetes API: two runs in a row, the second starting from what the first left behind.

The mounted secrets directory is refreshed between runs the way the kubelet does it for the
chart's volume (`items: [{key: token, path: refresh_token}]`): the file `refresh_token`
holds the Secret's key `token`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.kube_support import password_login, refresh_ok, run_cli

from jes_runner.kube.tokens import REPLACES_KEY, fingerprint

pytestmark = (
    pytest.mark.slow
)  # end-to-end runs of seconds: outside the fast selection (README, Development)

NS, NAME, OWN, KUBE_TOKEN = "jes", "viya-oauth", "jes-runner-tokens", "kube-sa-token"
KEY_MAP = {"refresh_token": "token", "client_id": "client"}
OPERATOR = [
    {
        "apiVersion": "external-secrets.io/v1beta1",
        "kind": "ExternalSecret",
        "name": "viya-oauth",
        "uid": "0b7c1e9e-2a0e-4a43-9d7c-6f3d3c1e2f00",
        "controller": True,
    }
]
RUN = ["run", "--limit-jobs", "4", "--mode", "window", "--concurrent", "2", "--no-report"]


def mount(emu: Any, directory: Path, name: str = NAME) -> None:
    """What the kubelet shows of the Secret: each mapped key under its file name."""
    data = emu.k8s.secret_data(NS, name) or {}
    directory.mkdir(exist_ok=True)
    for file, key in KEY_MAP.items():
        if key in data:
            (directory / file).write_text(data[key])


@pytest.fixture
def rotating(
    make_emulator: Callable[..., Any],
    kube_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[Any, Path, str]:
    """An emulator rotating refresh tokens on each use, the runner's env pointing at its Kubernetes API."""
    emu = make_emulator(
        speed_factor=0.002,
        auth={"rotate_refresh_tokens": True, "access_token_lifetime_s": 0.5},
        kubernetes={"token": KUBE_TOKEN},
    )
    secrets = tmp_path / "secrets"
    for k, v in {
        "JES_SECRETS_DIR": str(secrets),
        "JES_PERSIST_TOKENS": "secret",
        "JES_TOKEN_SECRET_NAME": NAME,
        "JES_TOKEN_SECRET_NAMESPACE": NS,
        "JES_KUBE_API_URL": emu.url,
        "JES_KUBE_API_TOKEN": KUBE_TOKEN,
        "JES_TOKEN_SECRET_KEYS": json.dumps(KEY_MAP),
        "JES_VIYA_URL": emu.url,
    }.items():
        monkeypatch.setenv(k, v)
    return emu, secrets, password_login(emu)["refresh_token"]


def test_key_mapped_secret_gets_the_rotated_token_under_its_key_and_run_2_authenticates(
    rotating: tuple[Any, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, secrets, rt0 = rotating
    emu.k8s.put_secret(NS, NAME, {"token": rt0, "client": "sas.cli"})
    mount(emu, secrets)

    assert run_cli(RUN) == 0
    data = emu.k8s.secret_data(NS, NAME)
    assert data is not None and set(data) == {"token", "client"}, "no stray refresh_token key"
    # (refresh_ok would rotate the live token away: run 2 is the proof that it is live)
    assert data["token"] != rt0
    # the first run's token is revoked: only the mapped key can save run 2
    assert not refresh_ok(emu.url, rt0)

    mount(emu, secrets)  # the kubelet syncs the volume before the next run's pod starts
    assert run_cli(RUN) == 0
    data2 = emu.k8s.secret_data(NS, NAME)
    assert (
        data2 is not None
        and data2["token"] not in (rt0, data["token"])
        and refresh_ok(emu.url, data2["token"])
    )
    out = "".join(capsys.readouterr())
    assert "Invalid refresh token" not in out and rt0 not in out and data["token"] not in out


@pytest.mark.parametrize("how", ["ownerReferences", "chart value"])
def test_operator_owned_secret_is_never_patched_the_runner_keeps_its_own(
    how: str,
    rotating: tuple[Any, Path, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu, secrets, rt0 = rotating
    emu.k8s.put_secret(
        NS,
        NAME,
        {"token": rt0, "client": "sas.cli"},
        owner_references=OPERATOR if how == "ownerReferences" else None,
    )
    emu.k8s.put_secret(NS, OWN, {})  # created empty by the chart
    monkeypatch.setenv("JES_TOKEN_STORE_SECRET_NAME", OWN)
    if how == "chart value":
        monkeypatch.setenv("JES_TOKEN_SECRET_OPERATOR_MANAGED", "true")
    mount(emu, secrets)
    patches = emu.k8s.counts["patch secret"]

    assert run_cli(RUN) == 0
    assert emu.k8s.secret_data(NS, NAME) == {"token": rt0, "client": "sas.cli"}, (
        "the operator's Secret was patched"
    )
    own = emu.k8s.secret_data(NS, OWN)
    assert own is not None and own["refresh_token"] != rt0 and own[REPLACES_KEY] == fingerprint(rt0)
    assert not refresh_ok(emu.url, rt0)  # the mounted token is revoked: run 2 needs the kept one
    assert emu.k8s.counts["patch secret"] > patches
    out = "".join(capsys.readouterr())
    assert f"rotated tokens go to Secret {NS}/{OWN}" in out

    # run 2: the mount still shows the operator's (now revoked) rt0; the runner reads its own back first
    mount(emu, secrets)
    assert run_cli(RUN) == 0
    out = "".join(capsys.readouterr())
    assert f"using the rotated refresh token kept in Secret {NS}/{OWN}" in out
    own2 = emu.k8s.secret_data(NS, OWN)
    assert own2 is not None and own2["refresh_token"] != own["refresh_token"]
    assert refresh_ok(emu.url, own2["refresh_token"]) and own2[REPLACES_KEY] == fingerprint(rt0)
    assert emu.k8s.secret_data(NS, NAME) == {"token": rt0, "client": "sas.cli"}
    assert own["refresh_token"] not in out and own2["refresh_token"] not in out


def test_a_new_token_from_the_operator_wins_over_the_kept_one(
    rotating: tuple[Any, Path, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emu, secrets, rt0 = rotating
    emu.k8s.put_secret(NS, NAME, {"token": rt0, "client": "sas.cli"}, owner_references=OPERATOR)
    emu.k8s.put_secret(
        NS, OWN, {"refresh_token": "kept-but-superseded", REPLACES_KEY: fingerprint("an-older-one")}
    )
    monkeypatch.setenv("JES_TOKEN_STORE_SECRET_NAME", OWN)
    mount(emu, secrets)
    assert run_cli(RUN) == 0  # with "kept-but-superseded" it could not authenticate
    out = "".join(capsys.readouterr())
    assert "has a new refresh token since" in out
    own = emu.k8s.secret_data(NS, OWN)
    assert (
        own is not None
        and refresh_ok(emu.url, own["refresh_token"])
        and own[REPLACES_KEY] == fingerprint(rt0)
    )


def test_operator_owned_secret_without_a_store_is_one_warning(
    rotating: tuple[Any, Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    emu, secrets, rt0 = rotating
    emu.k8s.put_secret(NS, NAME, {"token": rt0, "client": "sas.cli"}, owner_references=OPERATOR)
    mount(emu, secrets)
    assert run_cli(RUN) == 0
    assert emu.k8s.secret_data(NS, NAME) == {"token": rt0, "client": "sas.cli"}
    warnings = [ln for ln in "".join(capsys.readouterr()).splitlines() if "could not persist" in ln]
    assert len(warnings) == 1 and "owned by ExternalSecret/viya-oauth" in warnings[0], warnings
    assert "JES_TOKEN_STORE_SECRET_NAME" in warnings[0]
