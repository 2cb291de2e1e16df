"""SASLogon: grants, JWT expiry, the 401 shapes, authorization code."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import requests

from jes_runner.emulator import Emulator


def token(
    emu: Emulator, client: tuple[str, str] = ("sas.cli", ""), **form: str
) -> requests.Response:
    return requests.post(
        f"{emu.url}/SASLogon/oauth/token",
        data=form,
        auth=client,
        headers={"Accept": "application/json"},
        timeout=10,
    )


def claims(jwt: str) -> dict:
    body = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def contexts(emu: Emulator, access_token: str) -> requests.Response:
    return requests.get(
        f"{emu.url}/compute/contexts",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )


def test_password_grant_issues_a_jwt_with_exp(emu: Emulator) -> None:
    r = token(emu, grant_type="password", username=emu.username, password=emu.password)
    assert r.status_code == 200
    body = r.json()
    assert (
        body["token_type"] == "bearer"
        and body["expires_in"] == 3599
        and body["refresh_token"]
        and body["jti"]
    )
    c = claims(body["access_token"])
    assert c["user_name"] == "jes" and c["client_id"] == "sas.cli" and c["grant_type"] == "password"
    assert 3590 < c["exp"] - time.time() <= 3600
    assert contexts(emu, body["access_token"]).status_code == 200


def test_bad_credentials_and_clients(emu: Emulator) -> None:
    r = token(emu, grant_type="password", username="jes", password="wrong")
    assert r.status_code == 401 and r.json() == {
        "error": "unauthorized",
        "error_description": "Bad credentials",
    }
    r = token(emu, ("nobody", "x"), grant_type="password", username="jes", password=emu.password)
    assert r.status_code == 401 and r.json()["error_description"] == "Bad credentials"
    r = token(emu, ("jes-runner", "wrong-secret"), grant_type="client_credentials")
    assert r.status_code == 401
    # sas.cli may not use client_credentials
    r = token(emu, grant_type="client_credentials")
    assert r.status_code == 401 and r.json() == {
        "error": "invalid_client",
        "error_description": "Unauthorized grant type: client_credentials",
    }
    assert token(emu, grant_type="magic").status_code == 400
    # no token / garbage token on a Viya endpoint
    r = requests.get(f"{emu.url}/jobExecution/jobs", timeout=10)
    assert r.status_code == 401 and 'error="unauthorized"' in r.headers["WWW-Authenticate"]
    r = contexts(emu, "not.a.jwt")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["WWW-Authenticate"]
    assert r.json()["httpStatusCode"] == 401


def test_client_credentials_with_secret(emu: Emulator) -> None:
    r = token(emu, ("jes-runner", "jes-runner-secret"), grant_type="client_credentials")
    assert r.status_code == 200 and "refresh_token" not in r.json()
    assert claims(r.json()["access_token"])["sub"] == "jes-runner"
    # client id/secret in the form body also work (UAA accepts both)
    r = requests.post(
        f"{emu.url}/SASLogon/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "jes-runner",
            "client_secret": "jes-runner-secret",
        },
        timeout=10,
    )
    assert r.status_code == 200
    assert contexts(emu, r.json()["access_token"]).status_code == 200


def test_expiry_gives_the_real_401_and_refresh_works(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(access_token_lifetime=0.6)
    first = token(emu, grant_type="password", username=emu.username, password=emu.password).json()
    assert contexts(emu, first["access_token"]).status_code == 200
    time.sleep(0.8)
    r = contexts(emu, first["access_token"])
    assert r.status_code == 401
    header = r.headers["WWW-Authenticate"]
    assert header.startswith(
        'Bearer realm="oauth", error="invalid_token", error_description="Access token expired: '
    )
    assert r.json()["httpStatusCode"] == 401
    r = token(emu, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200
    again = r.json()
    assert again["refresh_token"] == first["refresh_token"]  # not rotated
    assert again["access_token"] != first["access_token"]
    assert contexts(emu, again["access_token"]).status_code == 200
    r = token(emu, grant_type="refresh_token", refresh_token="bogus")
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    # a refresh token belongs to the client that got it
    assert (
        token(
            emu, ("sas.ec", ""), grant_type="refresh_token", refresh_token=first["refresh_token"]
        ).status_code
        == 401
    )


def test_authorization_code_flow(emu: Emulator) -> None:
    r = requests.get(
        f"{emu.url}/SASLogon/oauth/authorize",
        params={
            "client_id": "sas.cli",
            "response_type": "code",
            "redirect_uri": "http://localhost:9999/cb",
            "state": "xyz",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    q = parse_qs(loc.query)
    assert loc.netloc == "localhost:9999" and q["state"] == ["xyz"]
    code = q["code"][0]
    r = token(
        emu, grant_type="authorization_code", code=code, redirect_uri="http://localhost:9999/cb"
    )
    assert r.status_code == 200 and claims(r.json()["access_token"])["user_name"] == "jes"
    # a code is single-use
    r = token(emu, grant_type="authorization_code", code=code)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # without redirect_uri the code is shown on a page
    r = requests.get(
        f"{emu.url}/SASLogon/oauth/authorize",
        params={"client_id": "sas.cli", "response_type": "code"},
        timeout=10,
    )
    assert r.status_code == 200 and 'id="code"' in r.text
    assert (
        requests.get(
            f"{emu.url}/SASLogon/oauth/authorize",
            params={"client_id": "nobody", "response_type": "code"},
            timeout=10,
        ).status_code
        == 400
    )
