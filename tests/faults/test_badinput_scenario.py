"""Malformed emulator scenario files: `jes-runner emulator --scenario FILE` fails fast with one line.

Property-based: the shipped default scenario with one field broken (out of
range, NaN/inf, wrong type, unknown key, dangling reference, bad syntax or
encoding), written as YAML or JSON. In-process runs patch ``Emulator.start``
to fail loudly, so a scenario that is wrongly accepted fails the test instead
of serving forever; a few subprocess runs check the real process.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from badinput import clean_env, one_line_error, run_inprocess, run_subprocess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jes_runner.emulator import app as emulator_app
from jes_runner.sim.scenario import _data_text

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_n = itertools.count()


@lru_cache(maxsize=1)
def _default() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_data_text("default_scenario.yaml"))
    return data


def default() -> dict[str, Any]:
    return copy.deepcopy(_default())


def _not_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return True
    return False


WORDS = st.text(alphabet="abcxyz-_ ", min_size=1, max_size=8).filter(_not_number)
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
# invalid values by constraint
BAD = {
    "gt0": st.one_of(st.floats(max_value=0.0, allow_nan=False), NON_FINITE, WORDS, st.just([1])),
    "ge0": st.one_of(
        st.floats(max_value=-1e-6, allow_nan=False), NON_FINITE, WORDS, st.just({"a": 1})
    ),
    "ge1int": st.one_of(st.integers(max_value=0), st.sampled_from([1.5, 2.25, math.inf]), WORDS),
    "ge0int": st.one_of(st.integers(max_value=-1), st.sampled_from([0.5, math.nan]), WORDS),
    "rate": st.one_of(
        st.floats(min_value=1.001, allow_infinity=False),
        st.floats(max_value=-1e-6, allow_nan=False),
        NON_FINITE,
        WORDS,
    ),
    "int": st.one_of(st.sampled_from([1.5, [], {}]), WORDS),
    "str": st.sampled_from([5, 1.5, [], {"a": 1}]),
    "nonempty": st.just(""),
}
FIELDS = {
    ("speed_factor",): "gt0",
    ("registration_lag_s",): "ge0",
    ("completion_lag_s",): "ge0",
    ("start_overhead_s",): "ge0",
    ("failed_run_fraction",): "rate",
    ("seed",): "int",
    ("name",): "str",
    ("default_job", "elapsed_s"): "gt0",
    ("default_job", "cores"): "ge0",
    ("pools", "compute", "max_nodes"): "ge1int",
    ("pools", "compute", "slots_per_node"): "ge1int",
    ("pools", "computetmp", "first_index"): "ge0int",
    ("pools", "computetmp", "cpu_capacity"): "gt0",
    ("pools", "computetmp", "scale_up_delay"): "ge0",
    ("pools", "computetmp", "image_pull"): "ge0",
    ("queues", "default", "max_nodes"): "ge1int",
    ("contexts", 0, "name"): "nonempty",
    ("faults", "job_failure_rate"): "rate",
    ("auth", "access_token_lifetime_s"): "gt0",
    ("auth", "refresh_token_lifetime_s"): "gt0",
}


def _set(d: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


@st.composite
def broken_field(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    sc = default()
    path = draw(st.sampled_from(sorted(FIELDS, key=str)))
    _set(sc, path, draw(BAD[FIELDS[path]]))
    return sc, ".".join(str(p) for p in path)


@st.composite
def broken_structure(draw: st.DrawFn) -> tuple[Any, str]:
    sc = default()
    kind = draw(
        st.sampled_from(
            [
                "unknown_top",
                "unknown_pool_key",
                "context_queue",
                "queue_pool",
                "min_max",
                "error_status",
                "grant",
                "missing",
                "rule_field",
                "outage",
                "top_type",
            ]
        )
    )
    word = draw(st.from_regex(r"[a-z][a-z_]{2,10}", fullmatch=True))
    if kind == "unknown_top":
        word = "x_" + word
        sc[word] = draw(st.sampled_from([1, "v", [], {}]))
        return sc, word
    if kind == "unknown_pool_key":
        word = "x_" + word
        sc["pools"]["compute"][word] = 1
        return sc, f"pools.compute.{word}"
    if kind == "context_queue":
        sc["contexts"][1]["queue"] = "no-such-" + word
        return sc, "contexts.1.queue"
    if kind == "queue_pool":
        sc["queues"]["default"]["pools"] = ["compute", "no-such-" + word]
        return sc, "queues.default.pools"
    if kind == "min_max":
        sc["pools"]["computetmp"]["min_nodes"] = draw(st.integers(3, 50))
        return sc, "pools.computetmp"
    if kind == "error_status":
        sc["faults"]["rules"] = [
            {
                "endpoint": "*",
                "error_rate": 0.1,
                "error_statuses": [draw(st.sampled_from([200, 404, 418, 501, 599]))],
            }
        ]
        return sc, "faults.rules.0.error_statuses"
    if kind == "grant":
        sc["auth"]["clients"] = {"c": {"grants": ["implicit-" + word]}}
        return sc, "auth.clients.c.grants"
    if kind == "missing":
        key = draw(st.sampled_from(["pools", "queues", "contexts"]))
        del sc[key]
        return sc, key
    if kind == "rule_field":
        field = draw(
            st.sampled_from(["error_rate", "throttle_rate", "reset_rate", "drop_reply_rate"])
        )
        sc["faults"]["rules"] = [{"endpoint": "GET *", field: draw(BAD["rate"])}]
        return sc, f"faults.rules.0.{field}"
    if kind == "outage":
        sc["faults"]["orchestrator_outage"] = {"start_s": 0, "duration_s": draw(BAD["gt0"])}
        return sc, "faults.orchestrator_outage.duration_s"
    return draw(st.sampled_from([[], [sc], "pools", 5, None])), "top level"


@st.composite
def broken_text(draw: st.DrawFn) -> tuple[bytes, str, str]:
    """(content, suffix, what the message names)."""
    kind = draw(st.sampled_from(["yaml", "json", "not_utf8", "deep"]))
    if kind == "yaml":
        text = yaml.safe_dump(default())
        return (
            (
                text + draw(st.sampled_from(["\n  bad: [1, 2\n", "\n\tx: 1\n", "\n: :\n- a\n"]))
            ).encode(),
            ".yaml",
            "YAML",
        )
    if kind == "json":
        text = json.dumps(default())
        return text[: draw(st.integers(0, len(text) - 1))].encode(), ".json", "JSON"
    if kind == "not_utf8":
        return (
            yaml.safe_dump(default()).encode() + draw(st.sampled_from([b"\xff", b"\xc3\x28"])),
            ".yaml",
            "UTF-8",
        )
    depth = draw(st.integers(2_000, 50_000))
    return ("[" * depth).encode(), draw(st.sampled_from([".yaml", ".json"])), "nested"


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    def start(self: Any) -> Any:
        raise AssertionError("the malformed scenario was accepted: the emulator was about to serve")

    monkeypatch.setattr(emulator_app.Emulator, "start", start)


def _write(tmp: Path, content: Any, suffix: str) -> Path:
    path = tmp / f"scenario_{next(_n)}{suffix}"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif suffix == ".json":
        path.write_text(json.dumps(content))
    else:
        path.write_text(yaml.safe_dump(content))
    return path


def _check(path: Path, field: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_inprocess(["emulator", "--port", "0", "--scenario", str(path)], capsys)
    one_line_error(out, err, code, mentions=[str(path), field])


@SETTINGS
@given(broken=broken_field(), suffix=st.sampled_from([".yaml", ".json"]))
def test_a_broken_field(
    broken: tuple[dict[str, Any], str],
    suffix: str,
    no_serving: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sc, field = broken
    _check(_write(tmp_path, sc, suffix), field, capsys)


@SETTINGS
@given(broken=broken_structure(), suffix=st.sampled_from([".yaml", ".json"]))
def test_a_broken_structure(
    broken: tuple[Any, str],
    suffix: str,
    no_serving: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sc, field = broken
    if field == "top level":
        field = "top level"  # "expected a mapping at the top level"
    _check(_write(tmp_path, sc, suffix), field, capsys)


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(broken=broken_text())
def test_broken_syntax_or_encoding(
    broken: tuple[bytes, str, str],
    no_serving: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, suffix, what = broken
    _check(_write(tmp_path, data, suffix), what, capsys)


def test_missing_file_and_bad_profile(
    no_serving: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _check(tmp_path / "nope.yaml", "cannot read", capsys)
    sc = default()
    sc["profile"] = str(tmp_path / "profile.json")
    (tmp_path / "profile.json").write_text(json.dumps({"jobs": {"a": {"elapsed_s": "long"}}}))
    _check(_write(tmp_path, sc, ".yaml"), "jobs.a", capsys)


@pytest.mark.parametrize(
    "content",
    [
        b"speed_factor: .inf\n",
        b"\xff\xfe\x00",
        b"[" * 100_000,
    ],
    ids=["inf", "not-utf8", "deep"],
)
def test_subprocess_fails_fast(content: bytes, tmp_path: Path) -> None:
    """The real command: exit 2 with one line well within a second or two, never a server left running."""
    sc = (
        yaml.safe_dump(default()).encode() + b"\n" + content
        if content.startswith(b"speed")
        else content
    )
    path = tmp_path / "scenario.yaml"
    path.write_bytes(sc)
    code, out, err = run_subprocess(
        ["emulator", "--port", "0", "--scenario", str(path)], tmp_path, clean_env(tmp_path)
    )
    one_line_error(out, err, code, mentions=[str(path)])
