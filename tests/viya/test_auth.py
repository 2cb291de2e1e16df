"""viya/_auth.py through the client's handler seam: JWT expiry, invalid-token detection, refresh on 401 and before expiry, no secret in a refused login."""

from __future__ import annotations

import time
import urllib.parse

import pytest
import requests
from support.viya_fakes import BASE, Recorder, jwt, respond
from support.viya_fakes import seam_client as client

from jes_runner.viya import Credentials, jwt_expiry
from jes_runner.viya._auth import is_invalid_token


def test_jwt_expiry_and_invalid_token_detection() -> None:
    assert jwt_expiry(jwt(1234)) == 1234
    assert jwt_expiry("opaque") is None
    r = respond(
        requests.Request("GET", BASE).prepare(),
        401,
        {"error": "invalid_token"},
        {"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    assert is_invalid_token(r)
    bad = respond(
        requests.Request("GET", BASE).prepare(),
        401,
        {"error": "unauthorized", "error_description": "Bad credentials"},
    )
    assert not is_invalid_token(bad)


def test_refresh_on_401_retries_once_and_keeps_refresh_token() -> None:
    tokens = iter([jwt(time.time() + 3600), jwt(time.time() + 3600)])
    issued: list[str] = []
    state = {"accepted": None}

    def fn(req: requests.PreparedRequest) -> requests.Response:
        path = urllib.parse.urlsplit(req.url or "").path
        if path == "/SASLogon/oauth/token":
            form = urllib.parse.parse_qs(
                req.body if isinstance(req.body, str) else (req.body or b"").decode()
            )
            assert req.headers["Authorization"].startswith("Basic ")  # client auth, never the form
            assert form["grant_type"] == ["refresh_token"]
            tok = next(tokens)
            state["accepted"] = tok
            return respond(
                req, 200, {"access_token": tok, "token_type": "bearer", "expires_in": 3599}
            )
        if req.headers.get("Authorization") != f"Bearer {state['accepted']}":
            return respond(
                req,
                401,
                {"error": "invalid_token"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return respond(req, 200, {"items": [{"name": "ctx"}], "count": 1})

    h = Recorder(fn)
    creds = Credentials(access_token=jwt(time.time() + 3600), refresh_token="R1")
    c = client(h, creds, on_refresh_token=issued.append)
    assert [x["name"] for x in c.list_contexts()] == ["ctx"]
    assert h.paths() == [
        "GET /compute/contexts",
        "POST /SASLogon/oauth/token",
        "GET /compute/contexts",
    ]
    assert creds.refresh_token == "R1" and issued == []  # none came back: the old one is kept


def test_token_refreshed_before_exp_and_new_refresh_token_hooked() -> None:
    issued: list[str] = []

    def fn(req: requests.PreparedRequest) -> requests.Response:
        if "oauth/token" in (req.url or ""):
            return respond(
                req, 200, {"access_token": jwt(time.time() + 3600), "refresh_token": "R2"}
            )
        return respond(req, 200, {"items": [], "count": 0})

    h = Recorder(fn)
    creds = Credentials(
        access_token=jwt(time.time() + 5), refresh_token="R1"
    )  # inside the refresh margin
    c = client(h, creds, on_refresh_token=issued.append)
    c.list_contexts()
    assert h.paths()[0] == "POST /SASLogon/oauth/token"
    assert issued == ["R2"] and creds.refresh_token == "R2"


def test_bad_credentials_message_has_no_secret() -> None:
    def fn(req: requests.PreparedRequest) -> requests.Response:
        return respond(req, 401, {"error": "unauthorized", "error_description": "Bad credentials"})

    c = client(Recorder(fn), Credentials(username="alice", password="s3cr3t-pw"))
    with pytest.raises(Exception) as ei:
        c.authenticate()
    assert "Bad credentials" in str(ei.value) and "s3cr3t-pw" not in str(ei.value)
