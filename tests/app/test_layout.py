"""The app's own rules (the whole house is checked in tests/test_layout.py): it starts without test code,
and every sentence a user reads lives in messages.py."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.support.imports import product_modules
from tests.support.paths import ROOT

APP = ROOT / "app"


@pytest.mark.slow
def test_the_app_imports_in_a_fresh_interpreter_without_test_code() -> None:
    names = sorted(n for n in product_modules() if n.startswith("app."))
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
