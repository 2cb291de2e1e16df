"""The tree is the architecture: no import cycle anywhere (function-level imports included),
the layers contract of pyproject.toml holds, and `--help` loads no heavy module."""

from __future__ import annotations

import json
import subprocess
import sys

import grimp

HEAVY = (
    "matplotlib",
    "kubernetes",
    "jes_runner.emulator",
    "openpyxl",
    "jsonschema",
    "prometheus_client",
)


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    mods = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in mods:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append(
                        (child, iter(sorted(graph.find_modules_directly_imported_by(child))))
                    )
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycle_anywhere() -> None:
    # every import statement, inside functions too; `if TYPE_CHECKING:` imports never run
    graph = grimp.build_graph("jes_runner", exclude_type_checking_imports=True)
    assert len(graph.modules) > 50  # the whole package was read
    assert _cycles(graph) == []


def test_cycle_finder_sees_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for m in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(m)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]


def test_layers_contract_holds() -> None:
    proc = subprocess.run(["lint-imports"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert ", 0 broken." in proc.stdout


def _loaded_after(argv: list[str]) -> list[str]:
    code = (
        "import sys, json, contextlib, io\n"
        "from jes_runner.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_help_and_version_import_no_heavy_module() -> None:
    for argv in (["--help"], ["--version"], []):
        loaded = _loaded_after(argv)
        assert "jes_runner.cli.main" in loaded  # the probe really ran the CLI
        heavy = [m for m in loaded if m.startswith(HEAVY)]
        assert heavy == [], (argv, heavy)


def test_a_command_imports_only_what_it_needs() -> None:
    loaded = _loaded_after(["compare", "--help"])
    assert "jes_runner.cli.commands.compare" in loaded
    assert not [
        m for m in loaded if m.startswith("jes_runner.cli.commands.") and not m.endswith("compare")
    ]
    assert not [
        m for m in loaded if m.startswith(("matplotlib", "kubernetes", "jes_runner.emulator"))
    ]
