"""The tests mirror the package: every folder under tests/ is a jes_runner package or module
(tests/sinks/report -> jes_runner/sinks/report/, tests/runner -> jes_runner/runner.py), or one of
the cross-cutting suites named for what they are."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "jes_runner"
# suites that test no single module: the fault matrix and bad input, the chart and image, shared
# servers and fakes; `data` folders hold fixtures
CROSS_CUTTING = {"faults", "deploy", "support"}


def strays(tests: Path, package: Path) -> list[str]:
    """Folders under ``tests`` (``data`` and caches aside) that mirror nothing in ``package``."""
    out = []
    for d in sorted(tests.rglob("*")):
        rel = d.relative_to(tests)
        if not d.is_dir() or {"data", "__pycache__"} & set(rel.parts):
            continue
        if rel.parts[0] in CROSS_CUTTING:
            continue
        if not ((package / rel).is_dir() or (package / rel).with_suffix(".py").is_file()):
            out.append(rel.as_posix())
    return out


def test_every_test_folder_names_a_package_or_module() -> None:
    found = strays(TESTS, PACKAGE)
    assert not found, f"tests/ folders that mirror no jes_runner package or module: {found}"


def test_the_check_sees_a_stray(tmp_path: Path) -> None:
    pkg, tests = tmp_path / "pkg", tmp_path / "tests"
    for d in (pkg / "sinks" / "report", tests / "sinks" / "report" / "data", tests / "faults"):
        d.mkdir(parents=True)
    (pkg / "runner.py").write_text("")
    (tests / "runner").mkdir()  # a module's tests: fine
    assert strays(tests, pkg) == []
    (tests / "reports").mkdir()  # the old layout
    (tests / "sinks" / "metrics").mkdir()
    assert strays(tests, pkg) == ["reports", "sinks/metrics"]
