"""The SAS filter language: tokenizer, parser, evaluator (unit) and over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from emu_support import ViyaClient
from hypothesis import given, settings
from hypothesis import strategies as st

from jes_runner.emulator import Emulator
from jes_runner.emulator.filters import Call, FilterError, Literal, compile_filter, parse, tokenize

ROW: dict[str, Any] = {
    "id": "a1",
    "name": "cm_pooled_1",
    "state": "running",
    "count": 3,
    "flag": True,
    "creationTimeStamp": datetime(2025, 9, 15, 20, 30, 0, tzinfo=UTC),
    "endTimeStamp": None,
}


def matches(text: str, row: dict[str, Any] = ROW) -> bool:
    return compile_filter(text)(row.get)


def test_tokenize_quotes_and_words() -> None:
    toks = tokenize("eq(name, 'it''s') ")
    assert [(t.kind, t.text) for t in toks] == [
        ("word", "eq"),
        ("(", "("),
        ("word", "name"),
        (",", ","),
        ("str", "it's"),
        (")", ")"),
        ("end", ""),
    ]
    assert tokenize(r'"a\"b"')[0].text == 'a"b'


def test_parse_tree_shape() -> None:
    tree = parse("and(eq(state,running),in(id,'a','b'))")
    assert tree == Call(
        "and",
        (
            Call("eq", (Literal("state", False), Literal("running", False)), 4),
            Call("in", (Literal("id", False), Literal("a", True), Literal("b", True)), 22),
        ),
        0,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("eq(name,'cm_pooled_1')", True),
        ('eq(name,"cm_pooled_1")', True),
        ("eq(name,'CM_POOLED_1')", False),  # case-sensitive, like SAS
        ("ne(state,completed)", True),
        ("eq(state,running)", True),
        ("in(id,'x','a1')", True),
        ('in(id,"x","y")', False),
        ("startsWith(name,'cm_')", True),
        ("endsWith(name,'_1')", True),
        ("contains(name,'pool')", True),
        ("isNull(endTimeStamp)", True),
        ("isNull(id)", False),
        ("not(isNull(id))", True),
        ("and(eq(state,running),startsWith(name,'cm'),eq(id,a1))", True),
        ("and(eq(state,running),eq(id,zz))", False),
        ("or(eq(id,zz),eq(id,a1))", True),
        ("gt(count,2)", True),
        ("le(count,2.5)", False),
        ("eq(flag,true)", True),
        ("gt(creationTimeStamp,'2025-09-15T20:00:00Z')", True),
        ("lt(creationTimeStamp,'2025-09-15T20:00:00.000Z')", False),
        ("ge(creationTimeStamp,'2025-09-15T22:30:00+02:00')", True),  # same instant, offset form
        ('le(creationTimeStamp,"2025-09-15T20:29:59.999Z")', False),
        ("gt(endTimeStamp,'2025-01-01T00:00:00Z')", False),  # null never compares
        ("eq(nosuchfield,x)", False),
        ("  and( eq(state , running) , eq(id,a1) )  ", True),
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert matches(text) is expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("eq(name,'x'", "expected ')'"),
        ("eq(name 'x')", "expected ')'"),
        ("eq(name,'x", "unterminated string"),
        ("bogus(name,x)", "unknown function 'bogus'"),
        ("and(eq(id,a))", "two or more expressions"),
        ("eq(id)", "a field and a value"),
        ("eq('id',x)", "a field name first"),
        ("in(id)", "one or more values"),
        ("eq(id,a) trailing", "expected end of filter"),
        ("", "expected a name"),
    ],
)
def test_errors_name_the_problem(text: str, fragment: str) -> None:
    with pytest.raises(FilterError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        parse(text)


@settings(database=None)  # no .hypothesis/ directory in the repo
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_any_string_survives_quoting(value: str) -> None:
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"  # backslash escapes too
    assert matches(f"eq(name,{quoted})", {"name": value})
    assert not matches(f"ne(name,{quoted})", {"name": value})


def test_filters_over_http(make_emu: Callable[..., Emulator]) -> None:
    client = ViyaClient(make_emu(speed_factor=0.05))  # slow enough to see jobs before they end
    a = client.submit("cm_pooled", "cm_pooled_run7")
    b = client.submit("ae_pooled", "ae_pooled_run7")
    c = client.submit("co_pooled", "co_pooled_other")

    def ids(flt: str, **extra: str) -> set[str]:
        r = client.get("/jobExecution/jobs", params={"filter": flt, "limit": "100", **extra})
        assert r.status_code == 200, r.text
        return {j["id"] for j in r.json()["items"]}

    assert ids(f'in(id,"{a["id"]}","{c["id"]}")') == {a["id"], c["id"]}
    assert ids("startsWith(name,'ae_')") == {b["id"]}
    assert ids("and(startsWith(name,'c'),endsWith(name,'run7'))") == {a["id"]}
    assert ids("or(eq(name,'co_pooled_other'),eq(name,\"ae_pooled_run7\"))") == {b["id"], c["id"]}
    assert ids(f"gt(creationTimeStamp,'{a['creationTimeStamp']}')") <= {b["id"], c["id"]}
    assert ids("ge(creationTimeStamp,'2000-01-01T00:00:00Z')") == {a["id"], b["id"], c["id"]}
    assert ids("isNull(endTimeStamp)") == {a["id"], b["id"], c["id"]}  # nothing ended yet
    every = ids("or(eq(state,pending),eq(state,running))")
    assert every == {a["id"], b["id"], c["id"]}
    assert client.wait_state(c["id"], {"completed"}) == "completed"
    assert c["id"] in ids("eq(state,completed)")
    assert c["id"] not in ids("isNull(endTimeStamp)")

    r = client.get("/jobExecution/jobs", params={"filter": "eq(state,running"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/vnd.sas.error+json")
    err = r.json()
    assert err["httpStatusCode"] == 400 and "position" in err["message"] and err["version"] == 2

    r = client.get(
        "/jobDefinitions/definitions", params={"filter": "in(name,'cm_pooled','ae_pooled')"}
    )
    assert sorted(d["name"] for d in r.json()["items"]) == ["ae_pooled", "cm_pooled"]
    r = client.get("/compute/contexts", params={"filter": "eq(name,'Autoscaling POC Context')"})
    (ctx,) = r.json()["items"]
    full = client.get(f"/compute/contexts/{ctx['id']}").json()
    assert full["queueName"] == "autoscaling-poc-queue"
