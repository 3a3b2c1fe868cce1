"""Imports flow one way (docs/development.md: Code map): a module imports only from its own layer or the layers
below it, and no two modules import each other at module level.

Every import counts for the layers, wherever it is written: at module level, inside a function (a lazy import
is still a dependency) and under `if TYPE_CHECKING:` (a type that a module's functions name is part of what the
module depends on). Cycles are looked for among the imports outside functions, TYPE_CHECKING blocks included:
a lazy import inside a function runs after both modules exist, a cycle under TYPE_CHECKING is still one of the
design.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bnbench"
ROOT = "bnbench"  # the package's face (bnbench.load, bnbench.__version__): its own layer, the top one

# Bottom to top. A module is in the layer of the longest prefix that names it: the module itself or a package
# above it (the root package names only itself).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("bnbench.errors", "bnbench.version", "bnbench.units", "bnbench.registry", "bnbench.reporter",
              "bnbench.trusted", "bnbench.stdout", "bnbench.interrupt", "bnbench.blas", "bnbench.cores")),
    ("scenario", ("bnbench.scenario",)),
    ("models", ("bnbench.models",)),
    ("data", ("bnbench.data",)),
    ("energy", ("bnbench.energy",)),
    ("results", ("bnbench.results",)),
    ("train", ("bnbench.hooks", "bnbench.train", "bnbench.checkpoint", "bnbench.backend", "bnbench.replicas",
               "bnbench.graphed")),
    ("execute", ("bnbench.execute",)),
    ("analysis", ("bnbench.analysis",)),
    ("rendering", ("bnbench.rendering",)),
    ("export", ("bnbench.export",)),
    ("doctor", ("bnbench.doctor",)),
    ("commands", ("bnbench.commands", "bnbench.cli", "bnbench.__main__")),
    ("package root", (ROOT,)),
]

@dataclass(frozen=True)
class Module:
    name: str  # 'bnbench.analysis.stats'
    path: str  # 'bnbench/analysis/stats.py', for messages
    source: str

    @property
    def is_package(self) -> bool:
        return self.path.endswith("__init__.py")


@dataclass(frozen=True)
class Import:
    line: int
    target: str  # the bnbench module imported: the submodule for `from bnbench.analysis import stats`
    text: str  # as written: 'from bnbench.analysis import stats'
    in_function: bool


def read_package(root: Path = PACKAGE) -> list[Module]:
    modules = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules.append(Module(name, str(path.relative_to(root.parent)), path.read_text(encoding="utf-8")))
    return modules


def synthetic(name: str, source: str, package: bool = False) -> Module:
    """A module that exists only in a test of the checker."""
    path = name.replace(".", "/") + ("/__init__.py" if package else ".py")
    return Module(name, path, source)


def resolve(name: str, known: set[str]) -> str:
    """The module `name` is or is inside of: 'bnbench.analysis.stats.describe' -> 'bnbench.analysis.stats'."""
    while name not in known and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def is_ours(name: str) -> bool:
    return name == ROOT or name.startswith(ROOT + ".")


def imports_of(module: Module, known: set[str]) -> list[Import]:
    """Every import of a bnbench module in `module`, relative ones made absolute."""
    found: list[Import] = []

    def absolute(node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        base = package[: len(package) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(child.lineno, resolve(alias.name, known), f"import {alias.name}", in_function)
                             for alias in child.names if is_ours(alias.name))
            elif isinstance(child, ast.ImportFrom) and is_ours(base := absolute(child)):
                written = "." * child.level + (child.module or "")
                found.extend(Import(child.lineno, resolve(f"{base}.{alias.name}", known),
                                    f"from {written} import {alias.name}", in_function) for alias in child.names)
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(ast.parse(module.source), False)
    return found


def layer_of(name: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    """The index in `layers` of the layer that holds module `name`; None when no layer names it."""
    best, longest = None, -1
    for index, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            inside = prefix != ROOT and name.startswith(prefix + ".")
            if (name == prefix or inside) and len(prefix) > longest:
                best, longest = index, len(prefix)
    return best


def upward_imports(modules: list[Module], layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> list[str]:
    """'file:line: import (its layer -> the layer above)' for every import from a layer above the module's."""
    known = {m.name for m in modules}
    found = []
    for module in modules:
        own = layer_of(module.name, layers)
        for imported in imports_of(module, known):
            theirs = layer_of(imported.target, layers)
            if own is not None and theirs is not None and theirs > own:
                found.append(f"{module.path}:{imported.line}: {imported.text} "
                             f"({layers[own][0]} imports from {layers[theirs][0]}, a layer above)")
    return found


def cycles(modules: list[Module], lazy: bool = False) -> list[list[str]]:
    """Groups of modules that import each other, through imports outside functions, and with `lazy` those inside
    functions too (Tarjan's strongly connected components)."""
    known = {m.name for m in modules}
    edges: dict[str, set[str]] = {m.name: set() for m in modules}
    for module in modules:
        for imported in imports_of(module, known):
            if (lazy or not imported.in_function) and imported.target in known:
                edges[module.name].add(imported.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges[node] - {node}):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def test_every_module_is_in_a_layer():
    modules = read_package()
    assert len(modules) > 100  # the package was found and read
    assert [m.path for m in modules if layer_of(m.name) is None] == []


def test_no_module_imports_from_a_layer_above():
    assert upward_imports(read_package()) == []


def test_no_two_modules_import_each_other():
    assert cycles(read_package()) == []


def test_a_task_and_its_device_half_import_one_way():
    # The task's kind builds its device half (a lazy import, so that checking a task loads no torch); the device
    # half takes what it needs from its caller and imports nothing back.
    found = cycles([m for m in read_package() if m.name.startswith("bnbench.data")], lazy=True)
    assert found == []


def test_the_checker_names_the_file_line_and_import_of_each_upward_import():
    modules = [
        synthetic("bnbench.errors", ""),
        synthetic("bnbench.analysis", "", package=True),
        synthetic("bnbench.analysis.stats", ""),
        synthetic("bnbench.commands.run", ""),
        # a results module reaching up into analysis, in each way an import can be written
        synthetic("bnbench.results.top", "from bnbench.analysis.stats import describe\n"),
        synthetic("bnbench.results.lazy", "import math\n\n\ndef f():\n    import bnbench.analysis.stats\n"),
        synthetic("bnbench.results.typed", "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                                           "    from bnbench.analysis import stats\n"),
        synthetic("bnbench.results.relative", "from ..analysis import stats\n"),
        synthetic("bnbench.execute.root", "import bnbench\n"),
        # downward and sideways imports are fine
        synthetic("bnbench.analysis.fine", "from bnbench.errors import UserError\n"
                                           "from bnbench.analysis import stats\n"),
        synthetic("bnbench.commands.fine", "from bnbench.analysis.stats import describe\n"),
    ]
    assert upward_imports(modules) == [
        "bnbench/results/top.py:1: from bnbench.analysis.stats import describe "
        "(results imports from analysis, a layer above)",
        "bnbench/results/lazy.py:5: import bnbench.analysis.stats (results imports from analysis, a layer above)",
        "bnbench/results/typed.py:4: from bnbench.analysis import stats (results imports from analysis, a layer above)",
        "bnbench/results/relative.py:1: from ..analysis import stats (results imports from analysis, a layer above)",
        "bnbench/execute/root.py:1: import bnbench (execute imports from package root, a layer above)",
    ]


def test_the_checker_finds_a_cycle_outside_functions_only():
    a = synthetic("bnbench.analysis.a", "from bnbench.analysis import b\n")
    b_back = synthetic("bnbench.analysis.b", "from bnbench.analysis.a import x\n")
    b_typed = synthetic("bnbench.analysis.b", "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                                              "    from bnbench.analysis.a import x\n")
    b_lazy = synthetic("bnbench.analysis.b", "def f():\n    from bnbench.analysis.a import x\n")
    assert cycles([a, b_back]) == [["bnbench.analysis.a", "bnbench.analysis.b"]]
    assert cycles([a, b_typed]) == [["bnbench.analysis.a", "bnbench.analysis.b"]]
    assert cycles([a, b_lazy]) == []
    assert cycles([a, b_lazy], lazy=True) == [["bnbench.analysis.a", "bnbench.analysis.b"]]
