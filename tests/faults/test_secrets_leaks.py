"""No secret value leaks, on the paths the fault matrix does not take.

The matrix (test_fault_matrix.py) plants a password, a client secret, an access
and a refresh token and a Pushgateway token in every faulted run and scans
stdout, stderr, the results file, the checkpoint, the HTML report and a real
Pushgateway's /metrics. Here: refused credentials, the effective-config print,
JSON log lines, credentials inside the Pushgateway URL, a secrets directory, and
malformed settings that carry a secret.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from badinput import run_inprocess
from faultmatrix import JWT, closed_port, deep_merge, pushgateway_metrics
from support.cli_output import non_log_lines

from jes_runner.emulator import Emulator

PASSWORD = "pw-Lk4Ht9-secrets-test-77aa"
WRONG_PASSWORD = "pw-Wr0ng-secrets-test-31bc"
CLIENT_SECRET = "cs-Jd8Qm2-secrets-test-4e0f"
PG_PASSWORD = "pgpw-Ty6Vn3-secrets-test-9c2d"
PG_TOKEN = "pgt-Bx2Rk7-secrets-test-6d1e"


@pytest.fixture
def emu() -> Any:
    from jes_runner.emulator import default_scenario
    from jes_runner.sim.scenario import parse_scenario

    over = {"speed_factor": 0.002, "auth": {"clients": {"jes-runner": {"secret": CLIENT_SECRET}}}}
    sc = parse_scenario(
        deep_merge(default_scenario().model_dump(mode="json"), over), "<secrets-test>"
    )
    with Emulator(scenario=sc, port=0, password=PASSWORD) as e:
        yield e


def texts(out_dir: Path, *streams: str) -> dict[str, str]:
    found = {f"stream {i}": s for i, s in enumerate(streams)}
    for f in sorted(out_dir.rglob("*")) if out_dir.exists() else []:
        if f.is_file():
            data = f.read_bytes()
            if b"\0" not in data:
                found[str(f.relative_to(out_dir))] = data.decode("utf-8", "replace")
    return found


def assert_clean(found: dict[str, str], *secrets: str) -> None:
    for where, text in found.items():
        for s in secrets:
            assert s not in text, f"secret {s[:6]}... leaked into {where}"
        assert not JWT.search(text), f"a JWT leaked into {where}"


def test_refused_password_is_never_echoed(
    emu: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", WRONG_PASSWORD)
    code, out, err = run_inprocess(
        ["run", "--viya-url", emu.url, "--limit-jobs", "1", "--sequential-only"], capsys
    )
    assert code == 2 and "Bad credentials" in err
    assert_clean(texts(runner_env, out, err), WRONG_PASSWORD, PASSWORD)


def test_refused_refresh_token_and_client_secret_are_never_echoed(
    emu: Any, runner_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus_refresh = "rt-Zz9Xx8-not-issued-by-sasl0g0n"
    monkeypatch.setenv("JES_REFRESH_TOKEN", bogus_refresh)
    monkeypatch.setenv("JES_CLIENT_ID", "jes-runner")
    monkeypatch.setenv("JES_CLIENT_SECRET", CLIENT_SECRET + "-wrong")
    code, out, err = run_inprocess(
        ["run", "--viya-url", emu.url, "--limit-jobs", "1", "--sequential-only"], capsys
    )
    assert code == 2 and non_log_lines(err) == [err.strip().splitlines()[-1]]
    assert err.strip().splitlines()[-1].startswith("error: ")
    assert_clean(texts(runner_env, out, err), bogus_refresh, CLIENT_SECRET)


def test_effective_config_and_json_logs_mask_everything(
    emu: Any,
    runner_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    access, refresh = obtain_tokens_for(emu)
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    (secrets_dir / "password").write_text(PASSWORD + "\n")
    (secrets_dir / "client_secret").write_text(CLIENT_SECRET)
    monkeypatch.setenv("JES_SECRETS_DIR", str(secrets_dir))
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_CLIENT_ID", "jes-runner")
    monkeypatch.setenv("JES_ACCESS_TOKEN", access)
    monkeypatch.setenv("JES_REFRESH_TOKEN", refresh)
    monkeypatch.setenv(
        "JES_PUSHGATEWAY_URL", f"http://pguser:{PG_PASSWORD}@127.0.0.1:{closed_port()}"
    )
    monkeypatch.setenv("JES_PUSHGATEWAY_RETRIES", "0")
    code, out, err = run_inprocess(["run", "--viya-url", emu.url, "--limit-jobs", "0"], capsys)
    assert code == 0 and '"password": "********"' in out
    assert_clean(
        {"effective config": out + err}, PASSWORD, CLIENT_SECRET, access, refresh, PG_PASSWORD
    )

    code, out, err = run_inprocess(
        [
            "run",
            "--viya-url",
            emu.url,
            "--limit-jobs",
            "3",
            "--sequential-only",
            "--log-format",
            "json",
        ],
        capsys,
    )
    assert code == 4  # measured and written; the push to the closed port failed
    # JSON log lines: stderr
    assert '"event": "run_summary"' in err or '"event":"run_summary"' in err
    assert_clean(texts(runner_env, out, err), PASSWORD, CLIENT_SECRET, access, refresh, PG_PASSWORD)


@pytest.mark.services
def test_pushgateway_credentials_stay_out_of_metrics_and_logs(
    emu: Any,
    runner_env: Path,
    pushgateway_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JES_USERNAME", emu.username)
    monkeypatch.setenv("JES_PASSWORD", PASSWORD)
    monkeypatch.setenv("JES_PUSHGATEWAY_URL", pushgateway_url)
    monkeypatch.setenv("JES_PUSHGATEWAY_TOKEN", PG_TOKEN)
    monkeypatch.setenv("JES_ENVIRONMENT", "secrets-test")
    code, out, err = run_inprocess(
        ["run", "--viya-url", emu.url, "--limit-jobs", "3", "--sequential-only"], capsys
    )
    assert code == 0
    metrics = pushgateway_metrics(pushgateway_url)
    assert 'environment="secrets-test"' in metrics
    assert_clean(texts(runner_env, out, err) | {"/metrics": metrics}, PASSWORD, PG_TOKEN)


@pytest.mark.parametrize(
    "name,value",
    [
        ("JES_VIYA_URL", f"http://jes:{PASSWORD}@viya:port"),
        ("JES_PUSHGATEWAY_URL", f"http://u:{PASSWORD}@:9091"),
        ("JES_PHASES", f'[{{"name": "{PASSWORD}", "context": 5}}]'),
    ],
)
def test_malformed_settings_do_not_echo_secrets(
    name: str,
    value: str,
    runner_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    code, out, err = run_inprocess(["run", "--limit-jobs", "0"], capsys)
    assert code == 2 and name in err
    assert PASSWORD not in out + err


def obtain_tokens_for(emu: Any) -> tuple[str, str]:
    """An access/refresh pair for the jes-runner client (faultmatrix.obtain_tokens uses its own secrets)."""
    import base64
    import json
    import urllib.request
    from urllib.parse import urlencode

    basic = base64.b64encode(f"jes-runner:{CLIENT_SECRET}".encode()).decode()
    req = urllib.request.Request(
        emu.url + "/SASLogon/oauth/token",
        method="POST",
        data=urlencode(
            {"grant_type": "password", "username": emu.username, "password": PASSWORD}
        ).encode(),
        headers={"Authorization": f"Basic {basic}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = json.loads(resp.read())
    assert re.match(r"eyJ", body["access_token"])
    return body["access_token"], body["refresh_token"]
