"""The secrets directory: which keys it may hold and the one reader of it.

A mounted Kubernetes Secret is a directory with one file per key. The settings
read it at start-up, the Kubernetes lifecycle re-reads it at each phase start
and the file token store writes back to it: all three use this key table and
this reader, so a key added here is known everywhere and an unreadable file
fails the same way wherever it is read.
"""

from __future__ import annotations

from pathlib import Path

from jes_runner.errors import ConfigError

DEFAULT_SECRETS_DIR = Path("/var/run/secrets/jes")

# Viya credentials: file name == Settings field == Credentials field
CREDENTIAL_KEYS = (
    "access_token",
    "refresh_token",
    "client_id",
    "client_secret",
    "username",
    "password",
)
PUSHGATEWAY_KEYS = ("pushgateway_password", "pushgateway_token")
SECRET_FILES = CREDENTIAL_KEYS + PUSHGATEWAY_KEYS


class SecretsDirError(ConfigError):
    """A file of the secrets directory exists but cannot be read (the message names the key, never a value)."""


def read_secrets_dir(directory: Path, keys: tuple[str, ...] = SECRET_FILES) -> dict[str, str]:
    """The keys present in ``directory`` (stripped; empty files and a missing directory are skipped).

    A file that exists but cannot be read raises SecretsDirError: a half-read
    Secret would silently run with the wrong credentials.
    """
    directory = Path(directory)
    out: dict[str, str] = {}
    if not directory.is_dir():
        return out
    for key in keys:
        try:
            value = (directory / key).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as e:
            raise SecretsDirError(
                f"secrets directory {directory}: cannot read '{key}' ({e.__class__.__name__})"
            ) from None
        if value:
            out[key] = value
    return out
