"""SASLogon emulation: OAuth2 grants, JWT access tokens, bearer checks.

Clients authenticate with HTTP Basic (or ``client_id``/``client_secret`` form
fields, as UAA also accepts). Built-in clients (scenario ``auth.clients``):
``sas.cli`` and ``sas.ec`` with an empty secret (password, refresh_token,
authorization_code grants) and ``jes-runner`` (secret ``jes-runner-secret`` by
default, all four grants). Access tokens are HS256 JWTs signed with a key made
per emulator instance; lifetimes are REAL seconds. Refresh tokens are opaque
and not rotated (UAA default), so a refresh answers the same refresh token --
unless ``auth.rotate_refresh_tokens`` is set: then each refresh answers a new
one and revokes the old.

Error shapes follow SASLogon (UAA): bad user or client credentials ->
401 ``{"error":"unauthorized","error_description":"Bad credentials"}``; grant not
allowed -> 401 ``invalid_client`` "Unauthorized grant type: X"; bad refresh token ->
401 ``invalid_token``; bad code -> 400 ``invalid_grant``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from jes_runner.sim.scenario import AuthSpec


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BearerCheck:
    ok: bool
    user: str | None = None
    client_id: str | None = None
    error: str = ""  # "unauthorized" (missing) or "invalid_token"
    description: str = ""

    def www_authenticate(self) -> str:
        return f'Bearer realm="oauth", error="{self.error}", error_description="{self.description}"'


class TokenService:
    """Issues and checks tokens; thread-safe (its own small lock)."""

    def __init__(
        self,
        auth: AuthSpec,
        users: dict[str, str],
        issuer: str = "http://localhost/SASLogon/oauth/token",
    ) -> None:
        self.auth = auth
        self.users = dict(users)
        self.issuer = issuer
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._refresh: dict[str, tuple[str | None, str, float]] = {}  # token -> (user, client, exp)
        # code -> (user, client, redirect, exp)
        self._codes: dict[str, tuple[str, str, str | None, float]] = {}
        self.rotated = 0  # refresh tokens replaced (auth.rotate_refresh_tokens)

    def _now(self) -> float:
        """SASLogon's clock: real time plus the scenario's ``auth.clock_offset_s``."""
        return time.time() + self.auth.clock_offset_s

    # ----- JWT ---------------------------------------------------------------

    def _sign(self, claims: dict[str, Any]) -> str:
        header = {
            "alg": "HS256",
            "typ": "JWT",
            "kid": "legacy-token-key",
            "jku": self.issuer.replace("/oauth/token", "/token_keys"),
        }
        head = _b64(json.dumps(header, separators=(",", ":")).encode())
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{_b64(sig)}"

    def _decode(self, token: str) -> dict[str, Any] | None:
        try:
            head, body, sig = token.split(".")
            want = hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(want, _unb64(sig)):
                return None
            claims = json.loads(_unb64(body))
            return claims if isinstance(claims, dict) else None
        except (ValueError, TypeError):
            return None

    def _access_token(
        self, user: str | None, client_id: str, grant: str, scope: list[str]
    ) -> dict[str, Any]:
        now = self._now()
        lifetime = self.auth.access_token_lifetime_s
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "jti": jti,
            "sub": user or client_id,
            "scope": scope,
            "client_id": client_id,
            "cid": client_id,
            "azp": client_id,
            "grant_type": grant,
            # iat and exp may be fractional (RFC 7519 NumericDate) so sub-second test lifetimes work,
            # and exp - iat states the lifetime exactly (clients schedule refreshes from it)
            "iat": round(now, 3) if lifetime < 60 else int(now),
            "exp": round(now + lifetime, 3) if lifetime < 60 else int(now + lifetime),
            "iss": self.issuer,
            "zid": "uaa",
            "aud": sorted({client_id, *(s.split(".")[0] for s in scope)}),
        }
        if user:
            claims.update(
                {
                    "user_id": user,
                    "user_name": user,
                    "origin": "ldap",
                    "email": f"{user}@example.com",
                    "auth_time": int(now),
                }
            )
        return {
            "access_token": self._sign(claims),
            "token_type": "bearer",
            "expires_in": max(1, math.floor(lifetime)),
            "scope": " ".join(scope),
            "jti": jti,
        }

    # ----- grants ------------------------------------------------------------

    def _client(
        self, basic: tuple[str, str] | None, form: dict[str, str]
    ) -> tuple[str | None, Any]:
        cid, secret = basic if basic else (form.get("client_id", ""), form.get("client_secret", ""))
        spec = self.auth.clients.get(cid)
        if spec is None or not hmac.compare_digest(spec.secret.encode(), (secret or "").encode()):
            return None, None
        return cid, spec

    def token(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        """POST /SASLogon/oauth/token -> (status, JSON body)."""
        bad = {"error": "unauthorized", "error_description": "Bad credentials"}
        cid, spec = self._client(basic, form)
        if cid is None:
            return 401, bad
        grant = form.get("grant_type", "")
        if grant not in ("password", "client_credentials", "refresh_token", "authorization_code"):
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": f"Unsupported grant type: {grant}",
            }
        if grant not in spec.grants:
            return 401, {
                "error": "invalid_client",
                "error_description": f"Unauthorized grant type: {grant}",
            }
        user: str | None
        if grant == "password":
            user = form.get("username", "")
            want = self.users.get(user)
            if want is None or not hmac.compare_digest(
                want.encode(), form.get("password", "").encode()
            ):
                return 401, bad
        elif grant == "client_credentials":
            user = None
        elif grant == "refresh_token":
            rt = form.get("refresh_token", "")
            with self._lock:
                entry = self._refresh.get(rt)
            if entry is None or entry[1] != cid:
                return 401, {
                    "error": "invalid_token",
                    "error_description": f"Invalid refresh token: {rt[:8]}...",
                }
            if entry[2] < self._now():
                return 401, {
                    "error": "invalid_token",
                    "error_description": f"Invalid refresh token (expired): {rt[:8]}...",
                }
            body = self._access_token(entry[0], cid, grant, spec.scope)
            if self.auth.rotate_refresh_tokens:  # a new one; the old one is revoked
                new_rt = secrets.token_hex(16) + "-r"
                with self._lock:
                    self._refresh.pop(rt, None)
                    self._refresh[new_rt] = (
                        entry[0],
                        cid,
                        self._now() + self.auth.refresh_token_lifetime_s,
                    )
                    self.rotated += 1
                body["refresh_token"] = new_rt
            else:
                body["refresh_token"] = rt  # not rotated (UAA default)
            return 200, body
        else:
            code = form.get("code", "")
            with self._lock:
                centry = self._codes.pop(code, None)
            if centry is None or centry[1] != cid or centry[3] < self._now():
                return 400, {
                    "error": "invalid_grant",
                    "error_description": f"Invalid authorization code: {code}",
                }
            if centry[2] and form.get("redirect_uri") and form["redirect_uri"] != centry[2]:
                return 400, {"error": "invalid_grant", "error_description": "Redirect mismatch"}
            user = centry[0]
        body = self._access_token(user, cid, grant, spec.scope)
        if user is not None and "refresh_token" in spec.grants:
            rt = secrets.token_hex(16) + "-r"
            with self._lock:
                self._refresh[rt] = (user, cid, self._now() + self.auth.refresh_token_lifetime_s)
            body["refresh_token"] = rt
        return 200, body

    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], str]:
        """GET /SASLogon/oauth/authorize: auto-approves as the first configured user.

        There is no login page: the emulator's user is taken as signed in. With a
        ``redirect_uri`` it answers 302 to it with ``code`` (and ``state``); without
        one it shows the code in a tiny page, as SASLogon does for sas.cli.
        """
        cid = query.get("client_id", "")
        spec = self.auth.clients.get(cid)
        if (
            query.get("response_type") != "code"
            or spec is None
            or "authorization_code" not in spec.grants
        ):
            return (
                400,
                {"Content-Type": "text/plain"},
                "invalid_request: response_type=code and a client allowed the authorization_code grant are required\n",
            )
        code = secrets.token_urlsafe(8)
        user = next(iter(self.users))
        redirect = query.get("redirect_uri")
        with self._lock:
            self._codes[code] = (user, cid, redirect, self._now() + 300)
        if redirect:
            params = {"code": code}
            if "state" in query:
                params["state"] = query["state"]
            sep = "&" if "?" in redirect else "?"
            return 302, {"Location": f"{redirect}{sep}{urlencode(params)}"}, ""
        page = f'<html><body><h1>Authorization Code</h1><p id="code">{code}</p></body></html>\n'
        return 200, {"Content-Type": "text/html; charset=utf-8"}, page

    def check(self, header: str | None) -> BearerCheck:
        """Validate an ``Authorization: Bearer`` header."""
        if not header or not header.lower().startswith("bearer "):
            return BearerCheck(
                False,
                error="unauthorized",
                description="Full authentication is required to access this resource",
            )
        token = header[7:].strip()
        claims = self._decode(token)
        if claims is None:
            return BearerCheck(
                False, error="invalid_token", description="Cannot convert access token to JSON"
            )
        if float(claims.get("exp", 0)) <= self._now():
            return BearerCheck(
                False,
                error="invalid_token",
                description=f"Access token expired: {claims.get('jti', '')}",
            )
        return BearerCheck(True, user=claims.get("user_name"), client_id=claims.get("client_id"))
