"""config/settings.py: where each setting comes from (flag, environment, .env, secrets directory), masking, and one-line errors for malformed values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jes_runner.config.settings import load_settings
from jes_runner.errors import ConfigError


def test_settings_env_secrets_dir_and_flags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "password").write_text("from-file\n")
    (secrets / "username").write_text("fileuser")
    monkeypatch.setenv("JES_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("JES_USERNAME", "envuser")
    monkeypatch.setenv(
        "JES_PHASES",
        "- {name: Seq One, context: A, mode: sequential}\n- {name: b, context: B, mode: window, concurrency: 3}",
    )
    s = load_settings(output_dir="out")
    assert s.username == "envuser"  # env beats the secrets dir
    assert s.secret("password") == "from-file"
    assert str(s.output_dir) == "out"  # flag
    assert (
        [p.name for p in s.phases or []] == ["Seq One", "b"] and s.phases and s.phases[0].baseline
    )
    dumped = json.dumps(s.masked())
    assert "from-file" not in dumped and "********" in dumped


def test_settings_dotenv_and_json_phases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("JES_CLUSTER", raising=False)
    (tmp_path / ".env").write_text(
        'JES_CLUSTER=aks-prod\nJES_PHASES=[{"name": "x", "context": "C", "mode": "all"}]\n'
    )
    s = load_settings()
    assert s.cluster == "aks-prod" and s.phases and s.phases[0].mode == "all"


def test_settings_missing_secrets_dir_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JES_SECRETS_DIR", str(tmp_path / "nope"))
    assert load_settings().password is None


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"JES_POLL_INTERVAL_MIN": "soon"}, "JES_POLL_INTERVAL_MIN"),
        ({"JES_VIYA_URL": "viya.example.com"}, "JES_VIYA_URL"),
        ({"JES_PHASES": "[{name: a}]"}, "phase 1"),
        ({"JES_LOG_FORMAT": "xml"}, "JES_LOG_FORMAT"),
    ],
)
def test_malformed_settings_one_line(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], needle: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError) as ei:
        load_settings()
    assert needle in str(ei.value) and "\n" not in str(ei.value)


def test_packaged_job_config_matches_the_repository_copy() -> None:
    from jes_runner.config.settings import packaged_job_config

    repo = Path(__file__).resolve().parents[2] / "config" / "job_configs.json"
    assert packaged_job_config().read_bytes() == repo.read_bytes()
