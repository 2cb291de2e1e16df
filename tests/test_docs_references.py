"""Every file path, module, command, flag and environment variable the docs name exists.

Docs: README.md, docs/*.md and the chart's README. Commands and flags come from the
argparse parser (each command's own options), environment variables from the settings
model (plus the few the code reads itself), paths from the repository. Names agreed
for work that lands in parallel branches are allowed explicitly below, each with the
issue that adds it, so the lead can drop them after merging.
"""

from __future__ import annotations

import argparse
import re
from functools import cache
from pathlib import Path

import pytest

from jes_runner.cli.commands import SUMMARIES
from jes_runner.cli.main import build_parser
from jes_runner.config.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "jes-runner"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), CHART / "README.md"]

# Agreed names (HELPER_RULES) that other branches add; drop each once merged.
NOT_YET_MERGED_FLAGS: dict[str, str] = {}
NOT_YET_MERGED_ENV: dict[str, str] = {}
NOT_YET_MERGED_COMMANDS: dict[str, str] = {}

# Paths the docs name that are not in the repository by design: where things live at
# run time (in the pod, the results volume) or what a command writes.
RUNTIME_PATHS = (
    "/var/run/secrets/jes",
    "/results",
    "/tmp",
    "/etc/",
    "/opt/",
    "/usr/",
    "/run/",
    "results/",
    ".venv/",
    ".ci-work/",
    "config/job_configs.json",  # written by `discover --out` (the package carries a copy)
    "config/phases_three.yaml",  # the example's own file name
)
PATH_SUFFIXES = (".py", ".md", ".json", ".yaml", ".yml", ".tpl", ".txt", ".toml", ".sh")
REPO_DIRS = ("jes_runner/", "tests/", "docs/", "helm/", ".ci/", "benchmarks/", "config/")


def doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def code_spans(text: str) -> list[str]:
    """Inline `code` and the lines of fenced blocks."""
    fenced = re.findall(r"```[^\n]*\n(.*?)```", text, re.S)
    inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return inline + [line for block in fenced for line in block.splitlines()]


# -- the parser and the settings model ----------------------------------------------------


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    out = {s for a in parser._actions for s in a.option_strings}
    for sub in _subparsers(parser).values():  # `auth` etc. may have their own subcommands
        out |= _options(sub)
    return out


@cache
def command_flags() -> dict[str, frozenset[str]]:
    out = {}
    for name in SUMMARIES:
        sub = _subparsers(build_parser([name]))[name]
        out[name] = frozenset(_options(sub))
    return out


@cache
def env_names() -> frozenset[str]:
    prefix = Settings.model_config.get("env_prefix", "JES_")
    names = {f"{prefix}{field.upper()}" for field in Settings.model_fields}
    for field in Settings.model_fields.values():
        alias = field.validation_alias or field.alias
        if isinstance(alias, str):
            names.add(alias.upper())
    # read by the code outside the model (the secrets directory, the token write-back)
    source = "\n".join(p.read_text() for p in (ROOT / "jes_runner").rglob("*.py"))
    names |= set(re.findall(r"[\"'](JES_[A-Z0-9_]+)[\"']", source))
    return frozenset(names)


# -- what the docs name -------------------------------------------------------------------

COMMAND_LINE = re.compile(
    r"(?:^|[\s;|&(`$])(?:\.venv/bin/)?(?:jes-runner|python3? -m jes_runner)\s+([a-z]+)((?:\s+[^|;&#]*)?)"
)


def named_commands(text: str) -> list[tuple[str, set[str]]]:
    """(command, flags on that command line) for every `jes-runner CMD ...` the docs show."""
    out = []
    for span in code_spans(text):
        for m in COMMAND_LINE.finditer(span):
            flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2) or ""))
            out.append((m.group(1), flags))
    return out


def named_env(text: str) -> set[str]:
    return {n for n in re.findall(r"\b(JES_[A-Z0-9_]*[A-Z0-9])\b", text) if n != "JES_"}


def named_paths(doc: Path, text: str) -> set[str]:
    out = set()
    for span in code_spans(text):
        for token in re.findall(r"[\w./-]+", span):
            token = token.rstrip(".,:)")
            if token.startswith(("http", "//")) or "://" in token:
                continue
            looks_like_file = token.endswith(PATH_SUFFIXES) and "/" in token
            if token.startswith(REPO_DIRS) or looks_like_file:
                out.add(token)
    # markdown links to local files
    out |= {link for link in re.findall(r"\]\(([^)#\s]+)", text) if not link.startswith("http")}
    return out


def named_modules(text: str) -> set[str]:
    return set(re.findall(r"\b(jes_runner(?:\.[a-z_]+)+)\b", text))


def resolve(doc: Path, path: str) -> bool:
    if path.startswith(RUNTIME_PATHS) or any(c in path for c in "<>*…{}$"):
        return True
    path = path.rstrip("/")
    # docs/ARCHITECTURE.md's tree lists modules relative to the package
    candidates = [ROOT / path, doc.parent / path, CHART / path, ROOT / "jes_runner" / path]
    if any(p.exists() for p in candidates):
        return True
    # a tree listing (`cli/` then `commands/__init__.py` under it): somewhere in the package
    return doc.name == "ARCHITECTURE.md" and any((ROOT / "jes_runner").glob(f"**/{path}"))


def benchmark_flags() -> set[str]:
    """Flags of the scripts in benchmarks/ (docs show how to run them)."""
    found: set[str] = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        found |= set(re.findall(r"add_argument\(\s*\"(--[a-z][a-z0-9-]*)\"", script.read_text()))
    return found


# -- the tests ----------------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_command_and_flag_exists(doc: Path) -> None:
    flags = command_flags()
    wrong = []
    for command, used in named_commands(doc.read_text()):
        if command in NOT_YET_MERGED_COMMANDS:
            continue
        if command not in flags:
            wrong.append(f"command {command!r}")
            continue
        for flag in used - flags[command] - set(NOT_YET_MERGED_FLAGS):
            wrong.append(f"{command} {flag}")
    assert not wrong, f"{doc_id(doc)} names what the parser does not have: {sorted(set(wrong))}"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_flag_named_anywhere_exists_on_some_command(doc: Path) -> None:
    """Flags named in prose (`--phases FILE`) too: each belongs to at least one command."""
    every = set().union(*command_flags().values()) | set(NOT_YET_MERGED_FLAGS) | benchmark_flags()
    other_tools = {  # flags of helm, kubectl, docker, az, pip, pytest shown in the same docs
        "--set",
        "--set-file",
        "--namespace",
        "--create-namespace",
        "--logs",
        "--name",
        "--attach-acr",
        "--rm",
        "--platform",
        "--build-arg",
        "--network",
        "--secret",
        "--dry-run",
        "--from",
        "--overrides",
        "--restart",
        "--image",
        "--force-conflicts",
        "--check",
        "--sizes",
        "--help",
        "--version",
        "--without-pip",
        "--sort-by",
        "--mount",  # the BuildKit-only Dockerfile syntax the README says is not used
    }
    text = "\n".join(code_spans(doc.read_text()))
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9])", text))
    unknown = named - every - other_tools
    assert not unknown, f"{doc_id(doc)} names flags no command has: {sorted(unknown)}"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_environment_variable_is_a_setting(doc: Path) -> None:
    unknown = named_env(doc.read_text()) - env_names() - set(NOT_YET_MERGED_ENV)
    assert not unknown, f"{doc_id(doc)} names variables the settings do not have: {sorted(unknown)}"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_path_exists(doc: Path) -> None:
    text = doc.read_text()
    missing = sorted(p for p in named_paths(doc, text) if not resolve(doc, p))
    assert not missing, f"{doc_id(doc)} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=doc_id)
def test_every_module_exists(doc: Path) -> None:
    missing = []
    for module in named_modules(doc.read_text()):
        rel = Path(*module.split("."))
        if not ((ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()):
            # `jes_runner.cli.commands.run.register`: a module then an attribute
            parent = ROOT / Path(*module.split(".")[:-1])
            if not parent.with_suffix(".py").exists():
                missing.append(module)
    assert not missing, f"{doc_id(doc)} names modules that do not exist: {sorted(missing)}"


def test_the_checks_see_what_the_docs_name() -> None:
    """The extractors are not vacuous: the README's own examples are found."""
    readme = (ROOT / "README.md").read_text()
    commands = {c for c, _ in named_commands(readme)}
    assert {"demo", "run", "check", "discover", "compare"} <= commands
    assert {"JES_VIYA_URL", "JES_PROFILE"} <= named_env(readme)
    assert "jes_runner/config/settings.py" in named_paths(ROOT / "README.md", readme)
    assert not resolve(ROOT / "README.md", "jes_runner/metrics.py")  # a path that is gone
    assert "--no-push" in command_flags()["run"]
