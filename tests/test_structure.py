"""The package's structure (issue 24 item 8, issue 27): no import circle among li_seg's and experiments' modules,
function-level imports included (they hide a circle from Python, not from the next engineer), and the library
never imports the command line."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("li_seg", "experiments")


def _modules() -> dict[str, pathlib.Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports anywhere in its source (a `from a.b import c` names a.b.c when
    that is a module, else a.b)."""
    modules = _modules()

    def known(name: str):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [known(f"{node.module}.{alias.name}") for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [known(alias.name) for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), a package's own submodules'
    imports of their package left out (Python's normal parent-child relation)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def edges(v):
        return [w for w in graph[v] if not v.startswith(w + ".")]

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges(v):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    assert cycles(import_graph()) == []


def test_the_checker_finds_a_circle_hidden_in_a_function():
    graph = import_graph()
    graph["li_seg.config"].add("li_seg.models.registry")  # what ModelConfig's head default once did
    assert ["li_seg.config", "li_seg.models.registry"] in cycles(graph)


def test_the_library_imports_no_command_line_and_config_no_model():
    graph = import_graph()
    assert not [(m, t) for m, ts in graph.items() if m.startswith("li_seg") for t in ts
                if t.startswith("experiments")]
    assert graph["li_seg.config"] == set()  # pure data
    assert not any(t.startswith("li_seg.models") for t in graph["li_seg.analysis.flops"])
