"""push_results against Debian's real prometheus-pushgateway: PUT/POST semantics,
basic auth and TLS through its web config, a shared gateway, `jes-runner push`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from metrics_helpers import make_results
from support.servers import Server, free_port, http, make_tls_files, parse_metrics_text, pushgateway

from jes_runner.cli.main import main
from jes_runner.errors import ExitCode, JesError
from jes_runner.sinks.metrics.push import push_results

pytestmark = pytest.mark.services  # see README, Contributing: the fast selection

PUSH_USER = "jes-push"
PUSH_PASSWORD = "jes-push-password"
# bcrypt (cost 4) of PUSH_PASSWORD, for the Pushgateway's basic_auth_users
PUSH_PASSWORD_BCRYPT = "$2b$04$X4fm63gnflgYOs2JmYdcguduSX3A02b7W/tn7K3Y50bAnc08yYsCi"


KEY = ("job", "cluster", "environment", "profile")


def group(
    pg: Server,
    cluster: str = "test-cluster",
    environment: str = "ci",
    profile: str = "nightly",
    **kw: Any,
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The series of the deployment's group on the gateway's /metrics (empty labels dropped)."""
    status, body = http(pg.url + "/metrics", **kw)
    assert status == 200
    out = {}
    for name, labels, value in parse_metrics_text(body.decode()):
        if tuple(labels.get(k) for k in KEY) == ("jes-runner", cluster, environment, profile):
            out[(name, frozenset((k, v) for k, v in labels.items() if v and k not in KEY))] = value
    return out


def series(
    g: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str
) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in g.items() if n == name}


def job_names(g: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {dict(lbl).get("sas_job_name", "") for lbl in series(g, "jes_job_duration_seconds")}


def settings(url: str, **kw: Any) -> SimpleNamespace:
    return SimpleNamespace(pushgateway_url=url, pushgateway_retries=0, **kw)


def test_failed_run_keeps_last_success_and_replaces_everything_else(
    pushgateway_server: Server,
) -> None:
    pg = pushgateway_server
    ok = make_results(job_names=("DM", "AE", "LB", "VS"))
    push_results(ok, settings(pg.url))
    g1 = group(pg)
    last_success = series(g1, "jes_last_success_timestamp_seconds")
    assert list(last_success.values()) == [pytest.approx(1767578540.0)]  # ok's ended_at
    assert job_names(g1) == {"DM", "AE", "LB", "VS"}

    # a failed run over fewer jobs, without a speedup: POST
    failed = make_results(
        job_names=("DM", "AE"), status="completed_with_failures", failed=("AE",), speedup=None
    )
    push_results(failed, settings(pg.url))
    g2 = group(pg)
    assert series(g2, "jes_last_success_timestamp_seconds") == last_success  # survived
    assert list(series(g2, "jes_run_success").values()) == [0.0]
    (info,) = series(g2, "jes_run_info")
    assert (
        dict(info)["run_id"] == failed["run_id"]
        and dict(info)["status"] == "completed_with_failures"
    )
    assert job_names(g2) == {"DM", "AE"}  # LB and VS of the earlier run are gone
    speedup = series(g2, "jes_phase_speedup_ratio")
    assert len(speedup) == 1 and math.isnan(next(iter(speedup.values())))  # no stale 2.5
    assert (
        series(g2, "jes_phase_jobs")[
            frozenset(
                {
                    "phase": "async",
                    "context": "Autoscaling POC Context",
                    "mode": "batch",
                    "outcome": "failed",
                    "emulated": "false",  # every series says whether it is the emulator's
                }.items()
            )
        ]
        == 1.0
    )
    assert series(g2, "push_time_seconds")

    # the next success: PUT, the group is exactly that run again (placeholders gone)
    ok2 = make_results(job_names=("DM",), speedup=3.0)
    push_results(ok2, settings(pg.url))
    g3 = group(pg)
    assert job_names(g3) == {"DM"}
    assert list(series(g3, "jes_phase_speedup_ratio").values()) == [3.0]
    assert list(series(g3, "jes_run_success").values()) == [1.0]


def test_coexists_with_other_pushers_on_a_shared_gateway(pushgateway_server: Server) -> None:
    pg = pushgateway_server
    # the Workload Orchestrator pushes sas_job_info into the same gateway
    body = b'# TYPE sas_job_info gauge\nsas_job_info{queue="default",job_name="x"} 1\n'
    assert (
        http(pg.url + "/metrics/job/sas-workload-orchestrator", method="PUT", data=body)[0] == 200
    )
    push_results(make_results(), settings(pg.url))
    _, text = http(pg.url + "/metrics")
    assert b"sas_job_info{" in text and b"jes_run_info{" in text
    assert b'job="sas-workload-orchestrator"' in text


def test_two_deployments_are_two_groups(pushgateway_server: Server) -> None:
    pg = pushgateway_server
    push_results(make_results(cluster="a", environment="prod"), settings(pg.url))
    push_results(make_results(cluster="b", environment="prod"), settings(pg.url))
    push_results(make_results(cluster="a", environment="prod"), settings(pg.url))
    assert series(group(pg, "a", "prod"), "jes_run_info") and series(
        group(pg, "b", "prod"), "jes_run_info"
    )
    _, text = http(pg.url + "/metrics")
    assert text.decode().count("push_time_seconds{") == 2  # one group per deployment, no pile-up


def test_two_profiles_on_one_gateway_keep_both_groups(pushgateway_server: Server) -> None:
    """A smoke test from a laptop with the production labels (profile adhoc) next to the nightly run:
    neither replaces the other, not even the last success."""
    pg = pushgateway_server
    nightly = make_results(
        job_names=("DM", "AE", "LB"), cluster="aks-prod", environment="prod", profile="nightly"
    )
    push_results(nightly, settings(pg.url))
    smoke = make_results(
        job_names=("DM",),
        cluster="aks-prod",
        environment="prod",
        profile="adhoc",
        status="completed_with_failures",
        failed=("DM",),
        speedup=None,
    )
    push_results(smoke, settings(pg.url))
    push_results(
        make_results(
            job_names=("DM",), cluster="aks-prod", environment="prod", profile="adhoc", speedup=1.1
        ),
        settings(pg.url),
    )
    n = group(pg, "aks-prod", "prod", "nightly")
    a = group(pg, "aks-prod", "prod", "adhoc")
    (n_info,) = series(n, "jes_run_info")
    assert dict(n_info)["run_id"] == nightly["run_id"]
    assert job_names(n) == {"DM", "AE", "LB"} and list(
        series(n, "jes_phase_speedup_ratio").values()
    ) == [2.5]
    assert list(series(n, "jes_last_success_timestamp_seconds").values()) == [
        pytest.approx(1767578540.0)
    ]
    assert job_names(a) == {"DM"} and list(series(a, "jes_phase_speedup_ratio").values()) == [1.1]
    _, text = http(pg.url + "/metrics")
    assert text.decode().count("push_time_seconds{") == 2


def test_basic_auth_and_tls_through_the_gateways_web_config(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "tls")
    web = {
        "tls_server_config": {"cert_file": str(tls["cert"]), "key_file": str(tls["key"])},
        "basic_auth_users": {PUSH_USER: PUSH_PASSWORD_BCRYPT},
    }
    auth = (PUSH_USER, PUSH_PASSWORD)
    with pushgateway(tmp_path / "pg", web_config=web, ca_bundle=tls["ca"], basic_auth=auth) as pg:
        assert pg.url.startswith("https://")
        good = settings(
            pg.url,
            pushgateway_username=PUSH_USER,
            pushgateway_password=PUSH_PASSWORD,
            pushgateway_ca_bundle=tls["ca"],
        )
        push_results(make_results(), good)
        assert series(group(pg, ca_bundle=tls["ca"], basic_auth=auth), "jes_run_success")

        wrong = settings(
            pg.url,
            pushgateway_username=PUSH_USER,
            pushgateway_password="not-the-password",
            pushgateway_ca_bundle=tls["ca"],
        )
        with pytest.raises(JesError) as e:
            push_results(make_results(), wrong)
        assert e.value.exit_code == ExitCode.PUSH_FAILED and "HTTP 401" in str(e.value)
        assert "not-the-password" not in str(e.value)

        untrusted = settings(
            pg.url, pushgateway_username=PUSH_USER, pushgateway_password=PUSH_PASSWORD
        )
        with pytest.raises(JesError) as e:
            push_results(make_results(), untrusted)
        assert e.value.exit_code == ExitCode.PUSH_FAILED and "CERTIFICATE_VERIFY_FAILED" in str(
            e.value
        )


def _push_cmd(argv: list[str]) -> int:
    return main(["push", *argv])


def test_push_subcommand(
    pushgateway_server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for k in ("JES_PUSHGATEWAY_URL", "JES_CLUSTER", "JES_ENVIRONMENT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("JES_SECRETS_DIR", str(tmp_path / "none"))
    monkeypatch.chdir(tmp_path)
    r = make_results()
    path = tmp_path / "pooled_jobs_comparison_20260105_020000.json"
    path.write_text(json.dumps(r))

    monkeypatch.setenv("JES_PUSHGATEWAY_URL", pushgateway_server.url)
    assert _push_cmd([str(path)]) == 0
    assert series(group(pushgateway_server), "jes_run_info")
    assert _push_cmd([str(path), "--cluster", "other"]) == 0
    assert series(group(pushgateway_server, "other", "ci"), "jes_run_info")

    monkeypatch.setenv("JES_PUSHGATEWAY_RETRIES", "0")
    assert (
        _push_cmd([str(path), "--pushgateway-url", f"http://127.0.0.1:{free_port()}"])
        == ExitCode.PUSH_FAILED
    )

    assert _push_cmd([str(tmp_path / "missing.json")]) == ExitCode.BAD_INPUT
    (tmp_path / "bad.json").write_text("{not json")
    assert _push_cmd([str(tmp_path / "bad.json")]) == ExitCode.BAD_INPUT
    assert "not JSON" in capsys.readouterr().err
