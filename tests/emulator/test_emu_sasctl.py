"""A real third-party Viya client (sasctl) authenticates and lists contexts."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from sasctl import Session
from sasctl.core import request

from jes_runner.emulator import Emulator


def test_sasctl_session_lists_contexts(emu: Emulator) -> None:
    url = urlsplit(emu.url)
    # sasctl defaults to https; http needs protocol="http" (or an http:// hostname) and the port
    with Session(
        url.hostname, emu.username, emu.password, protocol="http", port=url.port, verify_ssl=False
    ) as s:
        contexts = request("get", "/compute/contexts")
        names = [c.name for c in contexts]
        assert names == [
            "SAS Job Execution compute context",
            "SAS Studio compute context",
            "Autoscaling POC Context",
        ]
        assert s.auth.refresh_token  # sas.ec may refresh
        one = request("get", f"/compute/contexts/{contexts[2].id}")
        assert one.queueName == "autoscaling-poc-queue"
    gt = emu.ground_truth()["requests"]
    assert gt["POST /SASLogon/oauth/token"] == 1 and gt["GET /compute/contexts"] == 1


def test_sasctl_refreshes_an_expired_token(make_emu: Callable[..., Emulator]) -> None:
    emu = make_emu(access_token_lifetime=0.5)
    with Session(
        f"http://{urlsplit(emu.url).hostname}",
        emu.username,
        emu.password,
        port=urlsplit(emu.url).port,
    ) as s:
        first = s.auth.access_token
        time.sleep(0.7)
        # sasctl reads "Access token expired" in WWW-Authenticate and uses its refresh token
        assert len(request("get", "/compute/contexts")) == 3
        assert s.auth.access_token != first
    gt = emu.ground_truth()["requests"]
    assert gt["POST /SASLogon/oauth/token"] == 2 and gt["GET /compute/contexts"] == 2
