"""Tokens from and back to where they live: a Kubernetes Secret or the token files.

Layout (one key per file / Secret key, as a mounted Secret shows it):
``access_token``, ``refresh_token``, ``client_id``, ``client_secret``,
``username``, ``password``.

* :class:`SecretStore` reads and patches one Secret through the Kubernetes API:
  only the keys whose value changed, base64 ``data``, with the resourceVersion
  it read (one retry on a 409 conflict). It creates the Secret only when asked
  (``jes-runner auth``). After patching a Secret someone else manages (Helm, an
  operator) it gives up the field ownership the patch gave it: the Secret's
  manager may replace the token later without a conflict (Helm 4 applies
  server-side and would otherwise refuse ``helm upgrade`` with new tokens).
  (``jes-runner auth``). A key map (file name -> Secret key, the chart's
  ``credentials.existingSecretKeys``) names the keys it reads and writes: a
  rotated ``refresh_token`` mapped to ``token`` is written under ``token``,
  where the next run's mount reads it.
* :class:`WriteBack` is where a rotated token goes: the mounted Secret, unless an
  operator owns it (an ``ownerReferences`` entry, or the deployment says so) --
  an operator would revert the patch -- then a runner-owned Secret, which the
  next run reads back first (:func:`read_back`) unless the operator's Secret
  has a new token since.
* :class:`FileStore` writes the files atomically, mode 0600.
* :class:`TokenPersister` is the runner's hook for a new refresh token: it saves
  in a background thread (auth never waits on the Kubernetes API), latest token
  wins, and a failure is one warning line. Token values are never logged.
* :class:`SecretsDirReloader` re-reads the mounted directory at each phase start
  so a Secret refreshed by someone else is picked up without a restart, while
  a stale copy of a token this process already replaced is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from jes_runner._util import write_atomic
from jes_runner.config.secrets import CREDENTIAL_KEYS, SecretsDirError, read_secrets_dir
from jes_runner.kube.config import KubeAccess, describe_api_error

log = logging.getLogger("jes_runner.kube")

SECRET_LABELS = {"app.kubernetes.io/name": "jes-runner", "app.kubernetes.io/component": "tokens"}
# Our name in a Secret's managedFields (the kubernetes client's default is "OpenAPI-Generator").
FIELD_MANAGER = "jes-runner"
# in the runner-owned Secret: which refresh token of the credentials Secret its own token replaced
REPLACES_KEY = "replaces_refresh_token_sha256"


class StoreError(Exception):
    """A store could not be read or written (message names where, never a value)."""


def b64(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


# ----- Secret --------------------------------------------------------------------------


def fingerprint(token: str) -> str:
    """sha256 of a token: recognises it later without storing it twice."""
    return hashlib.sha256(token.encode()).hexdigest()


class SecretStore:
    def __init__(
        self,
        access: KubeAccess,
        namespace: str,
        name: str,
        *,
        timeout_s: float = 10.0,
        key_map: Mapping[str, str] | None = None,
    ) -> None:
        self.access = access
        self.namespace = namespace
        self.name = name
        self.timeout_s = timeout_s
        self.key_map = dict(key_map or {})  # file name -> Secret key

    def key(self, file: str) -> str:
        return self.key_map.get(file, file)

    def __str__(self) -> str:
        return f"Secret {self.namespace}/{self.name}"

    def _read(self) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return self.access.core().read_namespaced_secret(
                self.name, self.namespace, _request_timeout=self.timeout_s
            )
        except ApiException as e:
            if e.status == 404:
                return None
            raise StoreError(f"cannot read {self} ({describe_api_error(e)})") from None
        except Exception as e:  # noqa: BLE001 - connection errors
            raise StoreError(f"cannot read {self} ({describe_api_error(e)})") from None

    def load(self) -> dict[str, str]:
        """Decoded data ({} when the Secret does not exist)."""
        secret = self._read()
        if secret is None:
            return {}
        raw: dict[str, str] = {}
        for k, v in (secret.data or {}).items():
            try:
                raw[k] = base64.b64decode(v).decode()
            except (ValueError, UnicodeDecodeError):
                continue
        # by file name: a mapped key wins over a stray key of the file's own name
        out = {k: v for k, v in raw.items() if k not in self.key_map.values()}
        out.update({file: raw[key] for file, key in self.key_map.items() if key in raw})
        return out

    def owner(self) -> str | None:
        """``Kind/name`` of the Secret's first owner (an operator), None when it has none or is absent."""
        secret = self._read()
        refs = (
            (getattr(secret.metadata, "owner_references", None) or []) if secret is not None else []
        )
        return f"{refs[0].kind}/{refs[0].name}" if refs else None

    def save(self, values: dict[str, str], *, create: bool = False) -> list[str]:
        """Patch the keys whose value differs; returns the keys written ([] when nothing changed)."""
        from kubernetes.client.exceptions import ApiException

        core = self.access.core()
        values = {self.key(k): v for k, v in values.items()}
        for attempt in (1, 2):
            secret = self._read()
            if secret is None:
                if not create:
                    raise StoreError(
                        f"{self} does not exist (create it with `jes-runner auth --secret "
                        f"{self.name}` or a manifest)"
                    )
                body = {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "type": "Opaque",
                    "metadata": {
                        "name": self.name,
                        "namespace": self.namespace,
                        "labels": SECRET_LABELS,
                    },
                    "data": {k: b64(v) for k, v in values.items()},
                }
                try:
                    core.create_namespaced_secret(
                        self.namespace,
                        body,
                        field_manager=FIELD_MANAGER,
                        _request_timeout=self.timeout_s,
                    )
                    return sorted(values)
                except ApiException as e:
                    if e.status == 409 and attempt == 1:
                        continue  # created meanwhile: patch it
                    raise StoreError(f"cannot create {self} ({describe_api_error(e)})") from None
                except Exception as e:  # noqa: BLE001
                    raise StoreError(f"cannot create {self} ({describe_api_error(e)})") from None
            current = secret.data or {}
            changed = {k: b64(v) for k, v in values.items() if current.get(k) != b64(v)}
            if not changed:
                return []
            patch = {
                "metadata": {"resourceVersion": secret.metadata.resource_version},
                "data": changed,
            }
            try:
                updated = core.patch_namespaced_secret(
                    self.name,
                    self.namespace,
                    patch,
                    _content_type="application/merge-patch+json",
                    field_manager=FIELD_MANAGER,
                    _request_timeout=self.timeout_s,
                )
            except ApiException as e:
                if e.status == 409 and attempt == 1:
                    continue  # someone else wrote it meanwhile: read again, patch again
                raise StoreError(f"cannot update {self} ({describe_api_error(e)})") from None
            except Exception as e:  # noqa: BLE001
                raise StoreError(f"cannot update {self} ({describe_api_error(e)})") from None
            self._release_ownership(updated)
            return sorted(changed)
        raise StoreError(f"cannot update {self} (conflicting writes)")

    def _release_ownership(self, secret: Any) -> None:
        """Drop our managedFields entry when another manager owns the rest of the Secret.

        Our patch took ownership of the keys it changed (an Update moves ownership to
        the writer). Left there, Helm 4's server-side apply of new token values
        (``helm upgrade --set credentials.preserveRefreshedTokens=false``) conflicts
        with it. Without our entry the keys have no owner and the next apply takes
        them. A Secret only we manage (created by ``jes-runner auth``) keeps our
        entry. Best effort: the token is already saved; a failure is one line.
        """
        entries = list(getattr(secret.metadata, "managed_fields", None) or [])
        others = [e for e in entries if e.manager != FIELD_MANAGER]
        if len(others) == len(entries) or not others:
            return
        body = [
            # only the object we just wrote: a newer write is someone else's to own
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": secret.metadata.resource_version,
            },
            {
                "op": "replace",
                "path": "/metadata/managedFields",
                "value": self.access.api.sanitize_for_serialization(others),
            },
        ]
        try:
            self.access.core().patch_namespaced_secret(
                self.name,
                self.namespace,
                body,
                _content_type="application/json-patch+json",
                field_manager=FIELD_MANAGER,
                _request_timeout=self.timeout_s,
            )
        except Exception as e:  # noqa: BLE001 - the token is saved: this never fails it
            log.warning(
                "token saved to %s; could not give up field ownership (%s): a server-side "
                "`helm upgrade` replacing the token may need --force-conflicts",
                self,
                describe_api_error(e),
            )


class WriteBack:
    """The rotated token's destination: the credentials Secret, or the runner-owned one when an
    operator owns the former. Decided at the first save (one GET), said once in the log."""

    def __init__(
        self,
        target: SecretStore,
        own: SecretStore | None,
        *,
        operator_managed: bool = False,
        replaces: str | None = None,
    ) -> None:
        self.target = target
        self.own = own
        self.operator_managed = operator_managed
        self.replaces = replaces  # fingerprint of the credentials Secret's refresh token at start
        self._chosen: SecretStore | None = None
        self._refused = False  # said once: an owned Secret stays owned for the run

    def __str__(self) -> str:
        return str(self._chosen or self.target)

    def _choose(self) -> SecretStore:
        if self._chosen is None:
            owner = None if self.operator_managed else self.target.owner()
            if not (self.operator_managed or owner):
                self._chosen = self.target
            else:
                why = (
                    f"owned by {owner}"
                    if owner
                    else "operator-managed (JES_TOKEN_SECRET_OPERATOR_MANAGED)"
                )
                if self.own is None:
                    self._refused = True
                    raise StoreError(
                        f"{self.target} is {why}: not patched (the operator would revert it); "
                        "set JES_TOKEN_STORE_SECRET_NAME to keep rotated tokens in a runner-owned Secret"
                    )
                log.info("%s is %s: rotated tokens go to %s", self.target, why, self.own)
                self._chosen = self.own
        return self._chosen

    def save(self, values: dict[str, str], *, create: bool = False) -> list[str]:
        if self._refused:
            return []
        store = self._choose()
        if store is self.own and self.replaces:
            values = {**values, REPLACES_KEY: self.replaces}
        return store.save(values)


def read_back(own: SecretStore, mounted_refresh_token: str | None) -> str | None:
    """The refresh token a previous run left in the runner-owned Secret, if it still applies.

    It applies while the credentials Secret still holds the token it replaced; a new token
    there (someone re-issued it) wins. Never raises: a failure is one warning, the mounted
    token is used."""
    try:
        data = own.load()
    except StoreError as e:
        log.warning("could not read back the rotated refresh token: %s; using the mounted one", e)
        return None
    token = data.get("refresh_token")
    if not token:
        return None
    if mounted_refresh_token and data.get(REPLACES_KEY) != fingerprint(mounted_refresh_token):
        log.info(
            "the credentials Secret has a new refresh token since %s was written: using it", own
        )
        return None
    log.info("using the rotated refresh token kept in %s", own)
    return token


# ----- files ---------------------------------------------------------------------------


class FileStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __str__(self) -> str:
        return f"token files in {self.directory}"

    def load(self) -> dict[str, str]:
        try:
            return read_secrets_dir(self.directory, CREDENTIAL_KEYS)
        except SecretsDirError as e:
            raise StoreError(str(e)) from None

    def save(self, values: dict[str, str], *, create: bool = True) -> list[str]:
        current = self.load()
        changed = {k: v for k, v in values.items() if current.get(k) != v}
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            for key, value in changed.items():
                write_atomic(self.directory / key, value + "\n", mode=0o600)
        except OSError as e:
            raise StoreError(
                f"cannot write {self} ({e.strerror or e.__class__.__name__})"
            ) from None
        return sorted(changed)


# ----- the runner's hooks ----------------------------------------------------------------------


class TokenPersister:
    """Called with each new refresh token; saves it in the background, warns once per failure."""

    def __init__(
        self,
        store: SecretStore | FileStore | WriteBack | None,
        *,
        on_saved: Callable[[str], None] | None = None,
        unavailable: str | None = None,
    ) -> None:
        self.store = store
        self.unavailable = unavailable  # why there is no store (said once, when a token arrives)
        self.on_saved = on_saved
        self._pending: str | None = None
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self._told = False

    def __call__(self, refresh_token: str) -> None:
        if self.store is None:
            if not self._told and self.unavailable:
                self._told = True
                log.info(
                    "SASLogon issued a new refresh token; not persisted (%s)", self.unavailable
                )
            return
        with self._cond:
            self._pending = refresh_token
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="token-persist", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while self._pending is None:
                    self._cond.wait()
                token, self._pending, self._busy = self._pending, None, True
            try:
                assert self.store is not None
                keys = self.store.save({"refresh_token": token})
                if keys:
                    log.info("new refresh token saved to %s", self.store)
                if self.on_saved:
                    self.on_saved(token)
            except StoreError as e:
                log.warning("could not persist the new refresh token: %s; the run goes on", e)
            except Exception as e:  # noqa: BLE001 - persisting must never fail a run
                log.warning(
                    "could not persist the new refresh token to %s (%s); the run goes on",
                    self.store,
                    e.__class__.__name__,
                )
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the latest token was written (or failed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)


class SecretsDirReloader:
    """Re-reads the secrets directory; reports keys that changed since the last read.

    A key counts as changed only when the file differs from what this reader saw
    last time and is not a value this process already moved past (a mounted
    Secret lags behind our own write-back by up to a kubelet sync period).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self.seen = read_secrets_dir(self.directory, CREDENTIAL_KEYS)
        self.superseded: set[str] = set()  # refresh tokens we have replaced

    def replaced(self, old: str | None) -> None:
        if old:
            with self._lock:
                self.superseded.add(old)

    def wrote(self, key: str, value: str) -> None:
        """We wrote this value ourselves (file store): not a change from outside."""
        with self._lock:
            self.seen[key] = value

    def changes(self) -> dict[str, str]:
        now = read_secrets_dir(self.directory, CREDENTIAL_KEYS)
        with self._lock:
            out = {
                k: v for k, v in now.items() if self.seen.get(k) != v and v not in self.superseded
            }
            self.seen = now
        return out
