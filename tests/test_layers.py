"""The package's layers: imports point down only (foundation -> library -> stages -> pipeline ->
cli), a stage never imports another stage, nothing imports in a circle, and the danlu package
never imports the flows built on it. Read from the source (danlu.imports), lazy imports too."""

from __future__ import annotations

import pytest

from danlu.imports import all_modules, direct_imports, top_level

FOUNDATION = {"errors", "process_exit", "atomic", "jsonl", "records", "progress", "config", "imports", "dvc_files",
              "id_hash", "environment", "lifeline", "project_lock", "extraction_metrics"}
LIBRARY = {"model", "train", "tokens", "tracking", "validate", "runners"}
STAGES = {"sample", "curate", "tokenizer", "pretrain", "finetune", "evaluate"}
RUNNER = {"pipeline", "ablation", "block_train"}  # block_train: trains curate's extractor
TOP = {"cli", "__main__"}
LAYERS = [FOUNDATION, LIBRARY, STAGES, RUNNER, TOP]


def layer(unit: str) -> int:
    for level, units in enumerate(LAYERS):
        if unit in units:
            return level
    raise AssertionError(f"danlu.{unit} has no layer: add it to tests/test_layers.py")


MODULES = [m for m in all_modules() if m != "danlu"]


def test_every_module_has_a_layer():
    for module in MODULES:
        layer(top_level(module))


@pytest.mark.parametrize("module", MODULES)
def test_imports_point_down_and_stages_stay_apart(module):
    unit = top_level(module)
    for dep in direct_imports(module, typing_only=True):
        dep_unit = top_level(dep)
        if dep_unit == unit or dep == "danlu":
            continue
        if layer(dep_unit) == layer(unit):
            assert unit not in STAGES, f"{module} imports {dep}: a stage imports another stage"
        else:
            assert layer(dep_unit) < layer(unit), f"{module} imports {dep}: {dep_unit} is above {unit}"


def test_no_import_cycles_between_modules_or_packages():
    # importing danlu.a.b runs danlu/a/__init__.py first: that edge is Python's, not a choice
    graph = {m: {d for d in direct_imports(m, typing_only=True) if not m.startswith(d + ".")}
             for m in MODULES}
    units = {}
    for module, deps in graph.items():
        units.setdefault(top_level(module), set()).update(
            top_level(d) for d in deps if top_level(d) != top_level(module))
    for g in (graph, units):
        assert _cycle(g) is None, f"import cycle: {' -> '.join(_cycle(g))}"


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_never_imports_flows(repo_root):
    import ast

    for path in (repo_root / "src" / "danlu").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n == "flows" or n.startswith("flows.") for n in names), path


def test_the_checker_sees_a_cycle_through_annotations_only(tmp_path):
    package = tmp_path / "danlu"
    (package / "curate").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "curate" / "__init__.py").write_text("")
    (package / "curate" / "a.py").write_text("from danlu.curate.b import B\nA = 1\n")
    (package / "curate" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from danlu.curate.a import A\nB = 1\n")
    assert "danlu.curate.a" not in direct_imports("danlu.curate.b", package)  # never runs
    graph = {m: set(direct_imports(m, package, typing_only=True)) - {"danlu.curate"}
             for m in ("danlu.curate.a", "danlu.curate.b")}
    assert _cycle(graph) == ["danlu.curate.a", "danlu.curate.b", "danlu.curate.a"]


def test_the_checker_sees_a_lazy_upward_import(tmp_path):
    """The check is not vacuous: a lazy import inside a function is found."""
    package = tmp_path / "danlu"
    (package / "train").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "train" / "__init__.py").write_text("")
    (package / "pretrain").mkdir()
    (package / "pretrain" / "__init__.py").write_text("")
    (package / "pretrain" / "run.py").write_text("X = 1\n")
    (package / "train" / "loop.py").write_text("def f():\n    from danlu.pretrain.run import X\n")
    assert direct_imports("danlu.train.loop", package) == {"danlu.pretrain", "danlu.pretrain.run"}
