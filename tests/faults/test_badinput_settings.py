"""Malformed settings (JES_* environment variables, `.env`, JES_PHASES): exit 2 and one clear line.

Property-based: one setting gets a value its model must refuse (non-numeric,
NaN/inf, out of range, not one of the choices, a URL without a host, a CA
bundle that does not exist, a malformed phase list), from the environment or
from `.env`; ``jes-runner run --limit-jobs 0`` (which would print the effective
configuration and exit 0) must end with one `error:` line naming the variable
and where to fix it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from badinput import clean_env, one_line_error, run_inprocess, run_subprocess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# characters a `.env` value can hold inside single quotes (no quote, no backslash, no newline)
SAFE = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="'\\\"#=")


def _not_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return True
    return False


WORD = st.text(alphabet=SAFE, min_size=1, max_size=10).filter(
    lambda s: s.strip() != "" and _not_number(s)
)
NON_FINITE = st.sampled_from(["inf", "-inf", "nan", "Infinity", "NaN", "1e999"])
GT0 = st.one_of(WORD, NON_FINITE, st.sampled_from(["0", "-1", "-0.5", "0.0"]))
GE0 = st.one_of(WORD, NON_FINITE, st.sampled_from(["-1", "-0.001", "-1e9"]))


def int_range(lo: int, hi: int | None) -> st.SearchStrategy[str]:
    bad = (
        st.integers(max_value=lo - 1)
        if hi is None
        else st.one_of(st.integers(max_value=lo - 1), st.integers(min_value=hi + 1))
    )
    return st.one_of(WORD, bad.map(str), st.sampled_from(["1.5", "2.75", "inf"]))


def not_in(*choices: str) -> st.SearchStrategy[str]:
    return WORD.filter(lambda s: s not in choices)


def not_bool() -> st.SearchStrategy[str]:
    """pydantic reads 0/1, true/false, on/off, yes/no, t/f, y/n in any case as booleans."""
    ok = {"0", "1", "true", "false", "on", "off", "yes", "no", "t", "f", "y", "n"}
    return WORD.filter(lambda s: s.strip().lower() not in ok)


BAD: dict[str, st.SearchStrategy[str]] = {
    "poll_interval_min": GT0,
    "poll_interval_max": GT0,
    "job_timeout_s": GT0,
    "request_timeout_s": GT0,
    "pushgateway_timeout_s": GT0,
    "grace_period_seconds": GT0,
    "node_poll_interval_s": GT0,
    "min_speedup": GT0,
    "correlation_deadline_s": GE0,
    "retry_backoff_s": GE0,
    "pushgateway_backoff_s": GE0,
    "max_queue_wait_p95_seconds": GE0,
    "correlation_page_limit": int_range(1, 10000),
    "submit_workers": int_range(1, 64),
    "max_retries": int_range(0, 20),
    "pushgateway_retries": int_range(0, 10),
    "max_failed_jobs": int_range(0, None),
    "log_format": not_in("text", "json"),
    "persist_tokens": not_in("auto", "secret", "file", "off"),
    "node_timeline": not_in("auto", "orchestrator", "off"),
    "verify_tls": not_bool(),
    "report": not_bool(),
    "viya_url": st.one_of(
        st.sampled_from(
            [
                "ftp://viya",
                "http://",
                "https://",
                "http://h:port",
                "http://::1",
                "viya.example.com",
                "http://a b",
                "//viya",
            ]
        ),
        WORD.filter(lambda s: not s.lower().startswith(("http://", "https://"))),
    ),
    "pushgateway_url": st.sampled_from(
        ["ftp://pg", "http://", "::", "http://pg:abc", "http://a b", "https://:9091"]
    ),
    "ca_bundle": st.just("/nonexistent/ca.pem"),
    "pushgateway_ca_bundle": st.just("/nonexistent/pg-ca.pem"),
}


@st.composite
def bad_phases(draw: st.DrawFn) -> str:
    good = {"name": "seq", "context": "SAS Job Execution compute context", "mode": "sequential"}
    kind = draw(
        st.sampled_from(
            [
                "mode",
                "concurrency",
                "missing",
                "extra",
                "empty_name",
                "two_baselines",
                "same_slug",
                "not_list",
                "syntax",
            ]
        )
    )
    entry: dict[str, Any] = dict(good)
    if kind == "mode":
        entry["mode"] = draw(not_in("sequential", "batch", "window", "all"))
    elif kind == "concurrency":
        entry["concurrency"] = draw(
            st.one_of(st.integers(max_value=0), st.sampled_from(["many", 1.5]))
        )
    elif kind == "missing":
        del entry[draw(st.sampled_from(["name", "context"]))]
    elif kind == "extra":
        entry["x_" + draw(st.from_regex(r"[a-z]{1,8}", fullmatch=True))] = 1
    elif kind == "empty_name":
        entry["name"] = ""
    elif kind == "two_baselines":
        return json.dumps([{**good, "baseline": True}, {**good, "name": "other", "baseline": True}])
    elif kind == "same_slug":
        return json.dumps([good, {**good, "name": draw(st.sampled_from(["SEQ", "seq!", " seq "]))}])
    elif kind == "not_list":
        return draw(st.sampled_from(["{}", "5", "[]", "just text", "{phases: []}"]))
    else:
        return draw(
            st.sampled_from(['[{"name": "a"', "[{name: a, context: [}]", "- name: a\n - b"])
        )
    return json.dumps([entry])


@st.composite
def bad_setting(draw: st.DrawFn) -> tuple[str, str]:
    if draw(st.integers(0, 9)) == 0:
        return "JES_PHASES", draw(bad_phases())
    field = draw(st.sampled_from(sorted(BAD)))
    return f"JES_{field.upper()}", draw(BAD[field])


@SETTINGS
@given(bad=bad_setting(), source=st.sampled_from(["env", "dotenv"]))
def test_a_malformed_setting(
    bad: tuple[str, str],
    source: str,
    runner_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, value = bad
    dotenv = Path(".env")  # runner_env made tmp_path the working directory
    with monkeypatch.context() as m:
        if source == "env" or "\n" in value or "'" in value:
            m.setenv(name, value)
        else:
            dotenv.write_text(f"# written by the test\n{name}='{value}'\n")
        try:
            code, out, err = run_inprocess(["run", "--limit-jobs", "0"], capsys)
        finally:
            dotenv.unlink(missing_ok=True)
    one_line_error(out, err, code, mentions=[name])


@pytest.mark.parametrize(
    "dotenv",
    [b"JES_CLUSTER=\xff\xfe\n", b"JES_PASSWORD='unterminated\n", b"garbage line\n"],
    ids=["not-utf8", "open-quote", "no-equals"],
)
def test_a_malformed_dotenv(
    dotenv: bytes, runner_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path(".env").write_bytes(dotenv)
    code, out, err = run_inprocess(["run", "--limit-jobs", "0"], capsys)
    line = one_line_error(out, err, code, mentions=[".env"])
    # a broken line is located, never echoed: it may hold a secret
    assert "unterminated" not in line


@pytest.mark.parametrize(
    "name,value",
    [
        ("JES_REQUEST_TIMEOUT_S", "inf"),
        ("JES_PHASES", "[" * 50_000),
        ("JES_VIYA_URL", "http://viya:port"),
        ("JES_MAX_RETRIES", "99"),
    ],
    ids=["inf", "deep-phases", "bad-port", "out-of-range"],
)
def test_subprocess(name: str, value: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path) | {name: value}
    code, out, err = run_subprocess(["run", "--limit-jobs", "0"], tmp_path, env)
    one_line_error(out, err, code, mentions=[name])


def test_cli_flags_name_the_flag(runner_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_inprocess(["run", "--limit-jobs", "0", "--job-timeout", "-5"], capsys)
    one_line_error(out, err, code, mentions=["--job-timeout"])
    code, out, err = run_inprocess(
        ["run", "--limit-jobs", "0", "--correlation-deadline", "nan"], capsys
    )
    one_line_error(out, err, code, mentions=["--correlation-deadline"])
