"""Malformed job config files (--config): exit 2, one line naming the file, the field and the fix.

Property-based: a valid config with one thing broken -- a field of a job, a
top-level key, the JSON syntax, the encoding -- run through
``jes-runner run --config FILE --limit-jobs 0`` in-process (which would print
the effective configuration and exit 0 if the file were accepted), plus a few
real subprocess runs.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import pytest
from badinput import clean_env, one_line_error, run_inprocess, run_subprocess
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_n = itertools.count()

NON_NUMERIC = st.text(min_size=1, max_size=8).filter(lambda s: not _is_number(s))


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def valid_config(n: int) -> dict[str, Any]:
    jobs = [
        {
            "definition_id": None,
            "name": f"job_{i}",
            "description": "",
            "arguments": {"a": "1"},
            "context_name": None,
            "enabled": True,
            "expected_runtime_s": 40.0,
        }
        for i in range(n)
    ]
    return {"jobs": jobs, "settings": {}, "metadata": {"generated_at": "2026-01-01T00:00:00Z"}}


# a field of one job, and values pydantic (even in lax mode) must refuse for it
BAD_FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(
        st.sampled_from([None, 5, [], {}, "", "   ", "a\x00b", "tab\tname", "new\nline"]),
        st.text(alphabet=" \t", min_size=1, max_size=3),
    ),
    "arguments": st.one_of(
        st.sampled_from([[], "x", 5, None]),
        st.dictionaries(
            st.text(min_size=1, max_size=5),
            st.sampled_from([[], {}, None, True, math.nan, math.inf, -math.inf]),
            min_size=1,
            max_size=2,
        ),
    ),
    "enabled": st.sampled_from([[], {}, "maybe", 2, -1, None, "yes please"]),
    "expected_runtime_s": st.one_of(
        st.floats(max_value=0.0), st.sampled_from([math.nan, math.inf, [], {}]), NON_NUMERIC
    ),
    "definition_id": st.sampled_from([5, [], {}, 1.5, True]),
    "context_name": st.sampled_from([5, [], {}, 2.5]),
    "description": st.sampled_from([5, [], {}, None]),
}


@st.composite
def broken_job_field(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    cfg = valid_config(draw(st.integers(1, 4)))
    idx = draw(st.integers(0, len(cfg["jobs"]) - 1))
    field = draw(st.sampled_from(sorted(BAD_FIELD_VALUES)))
    cfg["jobs"][idx][field] = draw(BAD_FIELD_VALUES[field])
    return cfg, [f"jobs[{idx}]", field]


@st.composite
def broken_top_level(draw: st.DrawFn) -> tuple[Any, list[str]]:
    cfg = valid_config(draw(st.integers(1, 3)))
    kind = draw(
        st.sampled_from(
            [
                "no_jobs",
                "jobs_type",
                "entry_type",
                "metadata",
                "settings",
                "disabled",
                "duplicate",
                "top_type",
                "empty",
            ]
        )
    )
    if kind == "no_jobs":
        del cfg["jobs"]
        return cfg, ["jobs"]
    if kind == "jobs_type":
        cfg["jobs"] = draw(st.sampled_from([{}, "x", 5, None, True]))
        return cfg, ["jobs"]
    if kind == "entry_type":
        idx = draw(st.integers(0, len(cfg["jobs"]) - 1))
        cfg["jobs"][idx] = draw(st.sampled_from([5, "x", [], None, 1.5]))
        return cfg, [f"jobs[{idx}]"]
    if kind == "metadata":
        cfg["metadata"] = draw(
            st.sampled_from([[], "x", 5, {"total_jobs_found": "many"}, {"enabled_jobs": []}])
        )
        return cfg, ["metadata"]
    if kind == "settings":
        cfg["settings"] = draw(st.sampled_from([[], "x", 5, True]))
        return cfg, ["settings"]
    if kind == "disabled":
        for j in cfg["jobs"]:
            j["enabled"] = False
        return cfg, ["enabled"]
    if kind == "duplicate":
        cfg["jobs"].append(dict(cfg["jobs"][0]))
        return cfg, ["duplicate", "job_0"]
    if kind == "empty":
        cfg["jobs"] = []
        return cfg, ["enabled"]
    return draw(st.sampled_from([[], "jobs", 5, None, True, [valid_config(1)]])), ["top level"]


@st.composite
def broken_text(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    text = json.dumps(
        valid_config(draw(st.integers(1, 3))), indent=draw(st.sampled_from([None, 2]))
    )
    kind = draw(st.sampled_from(["truncate", "garble", "not_utf8", "empty", "deep", "nan_literal"]))
    if kind == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))].encode(), ["JSON"]
    if kind == "garble":
        pos = draw(st.integers(0, len(text) - 1))
        garbled = text[:pos] + draw(st.sampled_from(list("{}[],:\"'x"))) + text[pos + 1 :]
        try:
            json.loads(garbled)
        except ValueError:
            return garbled.encode(), ["JSON"]
        assume(False)
    if kind == "not_utf8":
        pos = draw(st.integers(0, len(text)))
        return text[:pos].encode() + draw(
            st.sampled_from([b"\xff", b"\xc3\x28", b"\xe2\x82"])
        ) + text[pos:].encode(), ["UTF-8"]
    if kind == "empty":
        return draw(st.sampled_from([b"", b"   ", b"\n"])), ["JSON"]
    if kind == "deep":
        depth = draw(st.integers(2_000, 60_000))
        return ("[" * depth + "]" * depth).encode(), ["nested"]
    return text.replace(
        "40.0", draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"])), 1
    ).encode(), ["expected_runtime_s"]


def _write(tmp: Path, content: Any) -> Path:
    path = tmp / f"jobs_{next(_n)}.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content))
    return path


def _check(path: Path, mentions: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_inprocess(["run", "--config", str(path), "--limit-jobs", "0"], capsys)
    one_line_error(out, err, code, mentions=[str(path), *mentions])


@pytest.mark.slow  # an end-to-end run of seconds: outside the fast selection (README, Development)
@SETTINGS
@given(broken=broken_job_field())
def test_a_broken_job_field(
    broken: tuple[dict[str, Any], list[str]],
    runner_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg, mentions = broken
    _check(_write(tmp_path, cfg), mentions, capsys)


@SETTINGS
@given(broken=broken_top_level())
def test_a_broken_top_level(
    broken: tuple[Any, list[str]],
    runner_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cfg, mentions = broken
    _check(_write(tmp_path, cfg), mentions, capsys)


@SETTINGS
@given(broken=broken_text())
def test_broken_syntax_or_encoding(
    broken: tuple[bytes, list[str]],
    runner_env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data, mentions = broken
    _check(_write(tmp_path, data), mentions, capsys)


@pytest.mark.parametrize("what", ["missing", "directory"])
def test_unreadable_path(
    what: str, runner_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{what}.json"
    if what == "directory":
        path.mkdir()
    _check(path, [], capsys)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe{}",  # UTF-16 BOM
        b"[" * 100_000,  # recursion
        b'{"jobs": [{"name": "a", "expected_runtime_s": Infinity}]}',
        b'{"jobs": [{"name": "a", "arguments": {"n": NaN}}]}',
    ],
    ids=["not-utf8", "deep", "infinity", "nan-argument"],
)
def test_subprocess(content: bytes, tmp_path: Path) -> None:
    """A real process: the exit status and stderr a shell script sees."""
    path = tmp_path / "jobs.json"
    path.write_bytes(content)
    code, out, err = run_subprocess(
        ["run", "--config", str(path), "--limit-jobs", "0"], tmp_path, clean_env(tmp_path)
    )
    one_line_error(out, err, code, mentions=[str(path)])
