"""The house of app/: no import circle, one way data flow, small modules, every user sentence in messages.py."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support.paths import ROOT

APP = ROOT / "app"
MAX_LINES = 500


def app_modules() -> dict[str, ast.Module]:
    """Every module of the app package (plus app.py), parsed."""
    modules = {f"app.{p.stem}": ast.parse(p.read_text(encoding="utf-8")) for p in sorted(APP.glob("*.py"))}
    modules["app_main"] = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    return modules


def imported(tree: ast.Module) -> set[str]:
    """Absolute names of the modules a module imports (anywhere in it, lazily or not)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """app module -> the app modules it imports."""
    modules = app_modules()
    return {name: imported(tree) & set(modules) for name, tree in modules.items()}


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle in `graph` (as a path that returns to its start), or []."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return [*path, node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start, [])):
            return found
    return []


def test_cycle_finder_finds_a_circle() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_app_modules_import_no_circle() -> None:
    graph = import_graph()
    assert {"app.services", "app.rater", "app.lab", "app.results", "app.ui"} <= set(graph)
    assert cycle(graph) == []


def test_data_flows_one_way_and_modules_stay_small() -> None:
    for name, tree in app_modules().items():
        outside = {m for m in imported(tree) if m.split(".")[0] == "tests"}
        assert not outside, f"{name} imports test code: {outside}"
    for path in APP.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES, path.name


@pytest.mark.slow
def test_the_app_imports_in_a_fresh_interpreter_without_test_code() -> None:
    names = sorted(n for n in app_modules() if n.startswith("app."))
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'tests'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *names], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.strip() == "[]"


def test_sentences_a_user_reads_live_in_messages() -> None:
    """A string literal that reads as a sentence (three words or more, ending in . ? or !) outside messages.py."""
    found = []
    for path in sorted(APP.glob("*.py")):
        if path.name == "messages.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                text = node.value.strip()
                if len(text.split()) >= 3 and text[-1:] in ".?!":
                    found.append(f"{path.name}:{node.lineno}: {text}")
    assert found == []
