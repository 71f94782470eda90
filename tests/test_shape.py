"""The shape of the code, as the issue "One core" defines it when done.

approvals/ is the core. worker/ (the agent runtime) and bot/ (the Slack front-end) each depend on the core
and never on each other; countersign/ wires them together at start-up. No product module imports itself in
a circle, and none grows past what one reader holds: 500 lines a module, 80 lines a function.

Each test reads the source with `ast` and names every offender in its assertion message. A test marked
`xfail(strict=True)` fails today for the reason it gives; once that work lands it passes, strict turns the
pass into a failure, and the mark is removed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# The packages that ship as Countersign (the sandbox, the tests and the benches are tooling around them).
PRODUCT_PACKAGES = ("approvals", "worker", "bot", "api", "countersign")

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules(package: str) -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every Python module of a package, Alembic's migrations left out."""
    root = REPO_ROOT / package
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(REPO_ROOT)
        if "migrations" in relative.parts:
            continue
        parts = relative.with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _product_modules() -> dict[str, Path]:
    return {name: path for package in PRODUCT_PACKAGES for name, path in _modules(package)}


def _absolute(module_name: str, path: Path, node: ast.ImportFrom) -> str:
    """The absolute module a `from ... import` names (relative imports resolved against the importer)."""
    if node.level == 0:
        return node.module or ""
    package = module_name.split(".") if path.name == "__init__.py" else module_name.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _imported_names(module_name: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Every dotted name an import statement may load: `import a.b` loads a.b; `from a import b` loads a, or
    a.b when b is a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    source = _absolute(module_name, path, node)
    return [source, *(f"{source}.{alias.name}" for alias in node.names)]


def _all_imports(path: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement anywhere in a module: top level, in functions, under TYPE_CHECKING."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(module_name: str, path: Path) -> Iterator[str]:
    """The names a module loads when it is imported: its top-level imports, including those inside top-level
    `if`, `try` and `with` blocks, but not functions' imports nor an `if TYPE_CHECKING:` block's."""
    pending: list[ast.stmt] = list(ast.parse(path.read_text(), str(path)).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield from _imported_names(module_name, path, node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)
        elif isinstance(node, ast.With):
            pending.extend(node.body)


def _in_package(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _imports_from(importer: str, forbidden: tuple[str, ...]) -> list[str]:
    """`path:line: the import` for every import in the importer package of any of the forbidden packages."""
    found = []
    for module_name, path in _modules(importer):
        for node in _all_imports(path):
            names = _imported_names(module_name, path, node)
            if any(_in_package(name, package) for name in names for package in forbidden):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


# --- Layers: who may import whom ------------------------------------------------------------------------------


def test_the_worker_imports_nothing_from_the_bot() -> None:
    offenders = _imports_from("worker", ("bot",))

    assert not offenders, "worker/ imports bot/:\n" + "\n".join(offenders)


def test_the_core_imports_neither_the_worker_nor_the_bot() -> None:
    offenders = _imports_from("approvals", ("worker", "bot", "api"))

    assert not offenders, "approvals/ imports worker/, bot/ or api/:\n" + "\n".join(offenders)


def test_the_api_imports_neither_the_bot_nor_the_worker() -> None:
    offenders = _imports_from("api", ("bot", "worker"))

    assert not offenders, "api/ imports bot/ or worker/:\n" + "\n".join(offenders)


def test_neither_the_bot_nor_the_worker_imports_the_api() -> None:
    offenders = _imports_from("bot", ("api",)) + _imports_from("worker", ("api",))

    assert not offenders, "bot/ or worker/ imports api/:\n" + "\n".join(offenders)


def test_the_bot_imports_nothing_from_the_worker() -> None:
    offenders = _imports_from("bot", ("worker",))

    assert not offenders, "bot/ imports worker/:\n" + "\n".join(offenders)


# --- No import cycles -----------------------------------------------------------------------------------------


def _import_graph() -> dict[str, set[str]]:
    """Product module -> the product modules it loads when imported."""
    modules = _product_modules()
    return {
        name: {imported for imported in _module_level_imports(name, path) if imported in modules and imported != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a -> b -> ... -> a) through each strongly connected group of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest path from the group's first module back to itself, within the group (breadth first)."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle in {sorted(group)}")


def test_no_product_module_imports_itself_in_a_circle() -> None:
    cycles = _cycles(_import_graph())

    assert not cycles, "import cycles (module-level imports, TYPE_CHECKING aside):\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_cycle_check_finds_a_cycle_and_names_its_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}

    assert _cycles(graph) == [["a", "b", "c", "a"]]


# --- Size ---------------------------------------------------------------------------------------------------


def _long_modules(packages: tuple[str, ...]) -> list[str]:
    found = []
    for package in packages:
        for _, path in _modules(package):
            lines = len(path.read_text().splitlines())
            if lines > MAX_MODULE_LINES:
                found.append(f"{path.relative_to(REPO_ROOT)}: {lines} lines")
    return found


def _long_functions(packages: tuple[str, ...]) -> list[str]:
    """Every function (nested ones too, each counted with what it contains) longer than the limit."""
    found = []
    for package in packages:
        for _, path in _modules(package):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}: {lines} lines")
    return found


def test_no_product_module_is_over_500_lines() -> None:
    offenders = _long_modules(PRODUCT_PACKAGES)

    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_no_product_function_is_over_80_lines() -> None:
    offenders = _long_functions(PRODUCT_PACKAGES)

    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def test_the_sandboxs_python_keeps_the_same_sizes() -> None:
    offenders = _long_modules(("sandbox",)) + _long_functions(("sandbox",))

    assert not offenders, f"sandbox modules over {MAX_MODULE_LINES} lines or functions over {MAX_FUNCTION_LINES}:\n" + "\n".join(
        offenders
    )
