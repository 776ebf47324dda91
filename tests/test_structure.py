"""The package structure: shells (ui, eval) above the library (rag), no import cycles.

Imports are read statically with `ast`, function-level (lazy) imports included: a cycle that
only closes at run time is still a cycle a reader has to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rag", "ui", "eval", "lab")
SHELLS = ("ui", "eval", "lab")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its body."""
    modules = _modules()

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(filter(None, (resolve(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                for alias in node.names:
                    full = f"{base}.{alias.name}"
                    target = full if full in modules else resolve(base)
                    if target:
                        deps.add(target)
        deps.discard(name)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_no_import_cycles_between_packages() -> None:
    packages: dict[str, set[str]] = {p: set() for p in PACKAGES}
    for module, deps in import_graph().items():
        top = module.split(".")[0]
        packages[top] |= {d.split(".")[0] for d in deps} - {top}
    assert cycles(packages) == []


def test_the_library_never_imports_its_shells() -> None:
    offenders = {
        module: sorted(d for d in deps if d.split(".")[0] in SHELLS)
        for module, deps in import_graph().items()
        if module.split(".")[0] == "rag"
    }
    assert {m: d for m, d in offenders.items() if d} == {}


def _imported(path: Path) -> list[str]:
    """The absolute module names a file imports anywhere in its body (relative ones left out)."""
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.append(node.module)
    return names


def test_shells_import_only_the_public_api() -> None:
    """ui/ and eval/ import `rag` itself (`from rag import X`), never `rag.x.y`: the public API
    is what rag/__init__ exports. lab/ is exempt on purpose: its tuning, recording and bench
    scripts poke the library's internals (they are not installed)."""
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for shell in ("ui", "eval")
        for path in sorted((ROOT / shell).rglob("*.py"))
        for name in _imported(path)
        if name.startswith("rag.")
    ]
    assert offenders == []


def test_the_public_api_resolves() -> None:
    import rag

    missing = [name for name in rag.__all__ if getattr(rag, name, None) is None]
    assert missing == []


def test_only_the_store_imports_chromadb() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "rag").rglob("*.py")
        if any(name.split(".")[0] == "chromadb" for name in _imported(path))
    )
    assert importers == ["rag/index/store.py"]


def test_no_module_over_500_lines_or_function_over_80() -> None:
    too_long: list[str] = []
    for pkg in ("rag", "ui"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text("utf-8")
            if text.count("\n") > 500:
                too_long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 80:
                        too_long.append(f"{path.relative_to(ROOT)}:{node.name}: {length} lines")
    assert too_long == []


def test_the_graph_reads_lazy_and_relative_imports() -> None:
    graph = import_graph()
    assert "rag.embed.onnx" in graph["rag.embed"]  # imported inside make_embedder
    assert "rag.embed.base" in graph["rag.embed.onnx"]
    assert "rag.index.catalog" in graph["rag.retrieval.retrieve"]  # `from rag import catalog`


@pytest.mark.parametrize(
    "args",
    [["-m", "ui.cli", "eval", "--help"], ["-m", "ui.cli", "serve", "--help"]],
)
def test_shell_commands_are_reached_through_python_m(args: list[str]) -> None:
    code = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    assert code.returncode == 0, code.stderr
    assert "Usage:" in code.stdout and "No such command" not in code.stdout + code.stderr


def test_paperchat_help_lists_the_shell_commands_without_importing_them_heavily() -> None:
    probe = (
        "import sys\n"
        "from ui.cli import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = {'gradio', 'matplotlib', 'torch', 'chromadb', 'llama_index.core'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "serve" in run.stdout and "eval" in run.stdout
    assert run.stdout.strip().splitlines()[-1] == "[]"


def test_env_example_lists_every_setting() -> None:
    """A newcomer configures from .env.example: every Settings field is there, by its name."""
    import re

    from rag.config import Settings

    text = (ROOT / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = getattr(alias, "choices", [alias]) if alias else [f"PAPERCHAT_{name.upper()}"]
        assert any(re.search(rf"^#?\s*{n}=", text, re.M) for n in names), name
