"""Bearer-token auth as a flow (httpx style).

``BearerAuth.flow(request)`` is a generator: it yields the request with a fresh
token, receives the response, and on a 401 ``invalid_token`` refreshes once and
yields the request again. Tokens are refreshed ahead of their expiry, judged on
the local clock from when the token was *received* plus the lifetime the token
states (``exp - iat`` from the JWT payload, read without verifying it, or the
grant's ``expires_in``) -- never by comparing the local clock with ``exp``: a
client clock 2 h ahead of SASLogon would otherwise see every token as expired.

Grant order when a new token is needed: refresh_token, client_credentials (only
with a client secret), password. A refresh token that comes back replaces the
old one and is handed to ``on_refresh_token`` (the Kubernetes lifecycle persists
it to a Secret or the token file); when none comes back the old one is kept.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import requests

from jes_runner.viya._errors import AuthError, ViyaUnreachable
from jes_runner.viya._retry import RETRY_STATUSES, RetryPolicy
from jes_runner.viya._transport import Handler, describe_transport_error

TOKEN_PATH = "/SASLogon/oauth/token"
REFRESH_MARGIN_S = 60.0  # refresh this long before exp (or a tenth of the lifetime if shorter)


@dataclass
class Credentials:
    # repr=False: a stray log of the object must not print a secret
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = "sas.cli"
    client_secret: str = field(default="", repr=False)


def jwt_claims(token: str) -> dict[str, object]:
    """The JWT payload, unverified (the server verifies; we only schedule refreshes)."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def jwt_expiry(token: str) -> float | None:
    """`exp` of a JWT as epoch seconds, or None for opaque tokens."""
    exp = jwt_claims(token).get("exp")
    return float(exp) if isinstance(exp, int | float) else None


def token_lifetime(token: str | None, expires_in: Any = None) -> float | None:
    """Seconds the token is valid for, as the token states it: ``exp - iat`` and/or ``expires_in``
    (the shorter when both: whole-second ``iat``/``expires_in`` round the other way)."""
    claims = jwt_claims(token) if token else {}
    exp, iat = claims.get("exp"), claims.get("iat")
    stated = []
    if isinstance(exp, int | float) and isinstance(iat, int | float) and exp > iat:
        stated.append(float(exp - iat))
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        stated.append(float(expires_in))
    return min(stated) if stated else None


def is_invalid_token(response: requests.Response) -> bool:
    """A 401 that a new token can fix (expired/revoked), not refused credentials."""
    if response.status_code != 401:
        return False
    if "invalid_token" in response.headers.get("WWW-Authenticate", ""):
        return True
    try:
        body = response.json()
    except ValueError:
        return True  # no body to say otherwise: one refresh is cheap
    return not isinstance(body, dict) or body.get("error") in (None, "invalid_token")


class BearerAuth:
    def __init__(
        self,
        base_url: str,
        handler: Handler,
        credentials: Credentials,
        *,
        on_refresh_token: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url
        self.handler = handler
        self.creds = credentials
        self.on_refresh_token = on_refresh_token
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self._lock = threading.Lock()
        self._token = credentials.access_token
        self._lifetime: float | None = None
        self._expires_at: float | None = None  # local clock
        self._adopt_supplied(self._token)
        self._generation = 0  # bumps on every new token, so concurrent 401s refresh once
        self.token_requests = 0

    # -- the flow --------------------------------------------------------------

    def flow(
        self, request: requests.PreparedRequest
    ) -> Generator[requests.PreparedRequest, requests.Response, None]:
        generation = self._ensure_token()
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if is_invalid_token(response):
            self._refresh(stale_generation=generation)
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    # -- token management ------------------------------------------------------

    def _adopt_supplied(self, token: str | None) -> None:
        """A token handed in (JES_ACCESS_TOKEN, a re-read Secret): when it was issued is unknown, so it
        expires at the earlier of ``exp`` on the local clock and a full lifetime from now. With a skewed
        clock the first may be wrong: then the token is refreshed at once (one grant) or on its 401."""
        self._lifetime = token_lifetime(token)
        exp = jwt_expiry(token) if token else None
        now = self.clock()
        bounds = [
            b
            for b in (exp, None if self._lifetime is None else now + self._lifetime)
            if b is not None
        ]
        self._expires_at = min(bounds) if bounds else None

    def _needs_refresh(self) -> bool:
        if not self._token:
            return True
        if self._expires_at is None:
            return False  # opaque token: wait for a 401
        lifetime = max(1.0, self._lifetime or 1.0)
        margin = min(REFRESH_MARGIN_S, lifetime / 10)
        return self.clock() >= self._expires_at - margin

    def _ensure_token(self) -> int:
        if self._needs_refresh():
            with self._lock:
                if self._needs_refresh():
                    self._obtain()
        return self._generation

    def _refresh(self, stale_generation: int) -> None:
        with self._lock:
            if self._generation != stale_generation:
                return  # another thread already replaced the token
            self._obtain(after_401=True)

    def authenticate(self) -> None:
        """Make sure a token is at hand (preflight)."""
        self._ensure_token()

    def update_credentials(self, **changes: str | None) -> None:
        """Adopt credentials re-read mid-run (a refreshed Secret): Credentials field names -> values.

        A new ``access_token`` replaces the current token at once; other fields are
        used the next time a token is needed."""
        with self._lock:
            for key, value in changes.items():
                if key == "client_secret":
                    value = value or ""
                if key == "client_id" and not value:
                    continue
                setattr(self.creds, key, value)
            if "access_token" in changes:
                self._token = changes["access_token"]
                self._adopt_supplied(self._token)
                self._generation += 1

    def _obtain(self, after_401: bool = False) -> None:
        c = self.creds
        attempts: list[tuple[str, dict[str, str]]] = []
        if c.refresh_token:
            attempts.append(
                ("refresh_token", {"grant_type": "refresh_token", "refresh_token": c.refresh_token})
            )
        if c.client_secret:
            attempts.append(("client_credentials", {"grant_type": "client_credentials"}))
        if c.username and c.password:
            attempts.append(
                (
                    "password",
                    {"grant_type": "password", "username": c.username, "password": c.password},
                )
            )
        if not attempts:
            if after_401 or self._token:
                raise AuthError(
                    "the access token was refused or has expired and there is no refresh token, "
                    "client secret or username/password to get a new one"
                )
            raise AuthError(
                "no credentials: set JES_ACCESS_TOKEN, JES_REFRESH_TOKEN, JES_CLIENT_SECRET or "
                "JES_USERNAME/JES_PASSWORD (or files in the secrets directory)"
            )
        last = ""
        for grant, form in attempts:
            ok, last = self._token_request(grant, form)
            if ok:
                return
        raise AuthError(last)

    def _token_request(self, grant: str, form: dict[str, str]) -> tuple[bool, str]:
        self.token_requests += 1
        sent = self.clock()  # the token is at least this fresh: its lifetime counts from here
        grant_result = request_token(
            self.handler,
            self.base_url,
            form,
            self.creds.client_id,
            self.creds.client_secret or "",
            retry=self.retry,
            sleep=self.sleep,
            username=self.creds.username,
        )
        if grant_result.error:
            return False, grant_result.error
        body = grant_result.body
        token = body["access_token"]
        self._token = token
        self._lifetime = token_lifetime(token, body.get("expires_in"))
        # no stated lifetime but an exp: the local clock against exp is all there is
        self._expires_at = jwt_expiry(token) if self._lifetime is None else sent + self._lifetime
        self._generation += 1
        new_refresh = body.get("refresh_token")
        if new_refresh and new_refresh != self.creds.refresh_token:
            self.creds.refresh_token = new_refresh
            if self.on_refresh_token:
                self.on_refresh_token(new_refresh)
        return True, ""


@dataclass(frozen=True)
class TokenGrant:
    """SASLogon's answer to one grant: the token body, or one line saying why not (never the form)."""

    body: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def request_token(
    handler: Handler,
    base_url: str,
    form: dict[str, str],
    client_id: str,
    client_secret: str,
    *,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
    username: str | None = None,
) -> TokenGrant:
    """POST ``/SASLogon/oauth/token`` (client as HTTP Basic); the one token request of the
    project, used by the auth flow and by ``jes-runner auth``.

    Transient failures are retried like GETs (asking for a token twice is harmless);
    an unreachable server raises :class:`ViyaUnreachable`."""
    retry = retry or RetryPolicy()
    grant = form.get("grant_type", "?")
    req = requests.Request(
        "POST",
        base_url + TOKEN_PATH,
        data=form,
        auth=(client_id, client_secret),
        headers={"Accept": "application/json"},
    ).prepare()
    attempts = 1 + retry.max_retries
    for attempt in range(1, attempts + 1):
        try:
            resp = handler(req)
        except requests.RequestException as e:
            if attempt < attempts and not isinstance(e, requests.exceptions.SSLError):
                sleep(retry.delay(attempt))
                continue
            raise ViyaUnreachable(
                f"cannot reach Viya at {base_url} ({describe_transport_error(e)})"
            ) from None
        if resp.status_code in RETRY_STATUSES and attempt < attempts:
            sleep(retry.delay(attempt, resp.headers.get("Retry-After")))
            continue
        break
    if resp.status_code != 200:
        detail = ""
        try:
            body = resp.json()
            detail = str(
                body.get("error_description") or body.get("error") or body.get("message") or ""
            )
        except (ValueError, AttributeError):
            pass
        # never echo the form: it holds the password / refresh token
        return TokenGrant(
            error=(
                f"SASLogon refused the {grant} grant for client '{client_id}'"
                + (f" (user '{username}')" if grant == "password" and username else "")
                + f": HTTP {resp.status_code}"
                + (f" {detail}" if detail else "")
            )
        )
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        return TokenGrant(error=f"SASLogon answered the {grant} grant without an access_token")
    return TokenGrant(body=body)
