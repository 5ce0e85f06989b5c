"""What danlu's modules import, read from their source (no import is executed).

One graph serves two purposes: the code a stage depends on (every danlu module its entry
reaches, lazy imports inside functions included), which makes both the change check of
`danlu run` and the code deps in dvc.yaml; and the layering test, which checks that imports
only point down (library -> stages -> pipeline -> cli) and never go in circles.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

PACKAGE = "danlu"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(module: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    """The source file of `danlu.a.b` (a module or a package's __init__), or None."""
    parts = module.split(".")[1:]
    base = package_dir.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The absolute module a `from ... import` names (relative ones resolved)."""
    if not node.level:
        return node.module or ""
    anchor = module.split(".")
    if not is_package:
        anchor = anchor[:-1]
    anchor = anchor[: len(anchor) - (node.level - 1)]
    return ".".join([*anchor, node.module] if node.module else anchor)


@functools.cache
def direct_imports(module: str, package_dir: Path = PACKAGE_DIR, *,
                   typing_only: bool = False) -> frozenset[str]:
    """The danlu modules that `module`'s source imports when it runs (at the top level or in a
    function), and with `typing_only` also those under `if TYPE_CHECKING:` (code deps leave
    them out: they never run; the layering test keeps them: a cycle in annotations is still
    a cycle in the design). `from danlu.x import y` counts as danlu.x.y when that is a
    module, and always as danlu.x."""
    path = module_file(module, package_dir)
    if path is None:
        return frozenset()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in (ast.walk(tree) if typing_only else _run_time_nodes(tree)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node, path.name == "__init__.py")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if (name == PACKAGE or name.startswith(PACKAGE + ".")) and \
                    module_file(name, package_dir) is not None:
                found.add(name)
    return frozenset(_with_parents(found) - {module})


def _run_time_nodes(tree: ast.AST):
    """Every node, except the bodies of `if TYPE_CHECKING:` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _with_parents(modules: set[str]) -> set[str]:
    """Importing danlu.a.b runs danlu/a/__init__.py too (but not danlu/__init__: it is empty)."""
    out = set(modules)
    for name in modules:
        parts = name.split(".")
        out.update(".".join(parts[:i]) for i in range(2, len(parts)))
    return out


def reachable(module: str, package_dir: Path = PACKAGE_DIR) -> set[str]:
    """`module` and every danlu module it imports, directly or through others."""
    seen, todo = {module}, [module]
    while todo:
        for dep in direct_imports(todo.pop(), package_dir):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def top_level(module: str) -> str:
    """danlu.curate.filters.c4 -> curate; danlu.config -> config."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def code_paths(module: str, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The source a module runs, package-relative and sorted: a top-level module's file; a
    subpackage's folder when every module in it is reached, else the files reached in it."""
    reached = reachable(module, package_dir) - {PACKAGE}
    modules = all_modules(package_dir)
    paths = []
    for unit in sorted({top_level(m) for m in reached}):
        folder = package_dir / unit
        if not folder.is_dir():
            paths.append(Path(f"{unit}.py"))
            continue
        inside = [m for m in modules if top_level(m) == unit]
        if all(m in reached for m in inside):
            paths.append(Path(unit))
        else:
            paths += sorted(module_file(m, package_dir).relative_to(package_dir)
                            for m in inside if m in reached)
    return paths


def all_modules(package_dir: Path = PACKAGE_DIR) -> list[str]:
    """Every module of the package, by dotted name."""
    out = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append(".".join([PACKAGE, *parts]))
    return out
