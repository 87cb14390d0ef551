"""The project's shape: no import loop, no upward import, and the layers above the
engine reach it only through its public API (``from engine import NAME``).

Inside the engine, folders are rooms too: no loop between its sub-packages (and its
top-level modules), even where their modules form none, so each folder stands on those
below it.

Layers, top to bottom: ``cli`` -> ``study`` -> ``autodistill`` -> ``engine``. Every
import re
import counts, inside functions too (a lazy import is still a loop waiting to
happen), except those under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("engine", "autodistill", "study", "cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    files = [p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")]
    files += [ROOT / f"{layer}.py" for layer in LAYERS if (ROOT / f"{layer}.py").exists()]
    return {_module_name(p): p for p in files}


def _runtime_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run, skipping ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _targets(node: ast.Import | ast.ImportFrom, importer: str, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(module imported, how it was written) for each project module a statement loads."""
    if isinstance(node, ast.Import):
        return [(alias.name, alias.name) for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer if modules[importer].name == "__init__.py" else importer.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}".strip(".")
    return [(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base, base) for a in node.names]


def _with_parents(name: str, importer: str, modules: dict[str, Path]) -> list[str]:
    """A module and every package ``__init__`` Python runs before it, except the importer's own
    packages: those are already being initialised when their submodules load each other."""
    parts = name.split(".")
    chain = (".".join(parts[: i + 1]) for i in range(len(parts)))
    return [m for m in chain if m in modules and not importer.startswith(m + ".")]


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """Project module -> project modules it imports, and every (importer, written module) pair."""
    modules = _project_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    written: list[tuple[str, str]] = []
    for name, path in modules.items():
        for node in _runtime_imports(ast.parse(path.read_text())):
            for target, spelled in _targets(node, name, modules):
                if target.split(".")[0] not in LAYERS:
                    continue
                written.append((name, spelled))
                graph[name].update(m for m in _with_parents(target, name, modules) if m != name)
    return graph, written


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[0])


def test_no_module_imports_itself_through_a_loop():
    graph, _ = import_graph()
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import loop: {' -> '.join(exc.args[1])}")


def test_no_layer_imports_a_layer_above_it():
    graph, _ = import_graph()
    upward = sorted((a, b) for a, targets in graph.items() for b in targets if _layer(b) > _layer(a))
    assert not upward, f"upward imports: {upward}"


def test_the_layers_above_the_engine_use_only_its_public_api():
    _, written = import_graph()
    reaching_in = sorted({(a, b) for a, b in written if _layer(a) > 0 and b.startswith("engine.")})
    assert not reaching_in, f"write 'from engine import NAME' instead of: {reaching_in}"


def engine_rooms(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The engine's sub-packages and top-level modules (``engine.kd``, ``engine.config``) -> those
    their modules import; the package ``engine`` itself, its public face, is left out."""

    def room(module: str) -> str | None:
        parts = module.split(".")
        return ".".join(parts[:2]) if parts[0] == "engine" and len(parts) > 1 else None

    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if (source := room(module)) is not None:
            reached = {room(t) for t in targets} - {None, source}
            rooms.setdefault(source, set()).update(r for r in reached if r is not None)
    return rooms


def test_no_engine_folder_imports_itself_through_a_loop():
    graph, _ = import_graph()
    try:
        tuple(TopologicalSorter(engine_rooms(graph)).static_order())
    except CycleError as exc:
        pytest.fail(f"folder loop in the engine: {' -> '.join(exc.args[1])}")


def test_folder_rooms_see_a_loop_that_no_module_forms():
    # kd.a -> augment.b and augment.c -> kd.d: acyclic as modules, a loop as folders.
    graph = {"engine.kd.a": {"engine.augment.b"}, "engine.augment.c": {"engine.kd.d"}}
    graph |= {"engine.augment.b": set(), "engine.kd.d": set()}
    tuple(TopologicalSorter(graph).static_order())
    assert engine_rooms(graph) == {"engine.kd": {"engine.augment"}, "engine.augment": {"engine.kd"}}
    with pytest.raises(CycleError):
        tuple(TopologicalSorter(engine_rooms(graph)).static_order())


def test_the_graph_sees_a_planted_loop(tmp_path):
    # The check itself must be able to fail: a two-module loop is reported.
    graph = {"engine.a": {"engine.b"}, "engine.b": {"engine.a"}}
    with pytest.raises(CycleError):
        tuple(TopologicalSorter(graph).static_order())


def test_every_public_engine_name_resolves():
    import engine

    missing = [name for name in engine.__all__ if getattr(engine, name, None) is None]
    assert not missing


def test_no_library_test_imports_a_benchmark() -> None:
    """A benchmark is a script behind a figure; its own checks live beside it in benchmarks/tests/."""
    importing = [
        path.name
        for path in (ROOT / "tests").glob("*.py")
        if re.search(r"^\s*(from|import) benchmarks\b", path.read_text(), re.M)
    ]
    assert not importing, importing


def test_task_heads_and_models_sit_below_the_data_package_even_in_type_hints() -> None:
    """Data loading asks the task heads, so no module of engine/tasks or engine/models may name
    engine.data, not even under ``if TYPE_CHECKING:``."""
    naming = []
    for folder in ("tasks", "models"):
        for path in (ROOT / "engine" / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                modules += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                naming += [f"{path.name}: {m}" for m in modules if m.startswith("engine.data")]
    assert not naming, naming


def test_reading_task_types_loads_no_deep_learning_stack() -> None:
    """The catalog, the task heads and the augmentation plan answer without torch, transformers,
    scikit-learn or SciPy: listing data sets or checking a config stays a fraction of a second."""
    code = (
        "import sys, engine.tasks, engine.data.catalog, engine.augment; "
        "print(sorted(m for m in ('torch', 'transformers', 'sklearn', 'scipy') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"
