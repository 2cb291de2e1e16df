"""The one secrets-directory reader: keys, skipping rules and its one error behaviour."""

from __future__ import annotations

from pathlib import Path

import pytest

from jes_runner.config.secrets import (
    CREDENTIAL_KEYS,
    SECRET_FILES,
    SecretsDirError,
    read_secrets_dir,
)
from jes_runner.errors import ConfigError
from jes_runner.kube.tokens import FileStore, StoreError


def test_reads_known_keys_stripped_and_skips_empty_and_unknown(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("  s3cret\n")
    (tmp_path / "username").write_text("\n")
    (tmp_path / "not_a_key").write_text("x")
    assert read_secrets_dir(tmp_path) == {"password": "s3cret"}


def test_a_missing_directory_is_normal(tmp_path: Path) -> None:
    assert read_secrets_dir(tmp_path / "absent") == {}


def test_the_key_subset_limits_what_is_read(tmp_path: Path) -> None:
    (tmp_path / "pushgateway_token").write_text("pg")
    (tmp_path / "client_id").write_text("cid")
    assert read_secrets_dir(tmp_path, CREDENTIAL_KEYS) == {"client_id": "cid"}
    assert set(CREDENTIAL_KEYS) < set(SECRET_FILES)


def test_undecodable_file_fails_the_same_way_in_settings_and_the_file_store(
    tmp_path: Path,
) -> None:
    (tmp_path / "refresh_token").write_bytes(b"\xff\xfe\xfa")
    with pytest.raises(SecretsDirError, match="'refresh_token'") as e:
        read_secrets_dir(tmp_path)
    assert isinstance(e.value, ConfigError)  # exit 2 with one error line, like any bad setting
    with pytest.raises(StoreError, match="'refresh_token'"):
        FileStore(tmp_path).load()
