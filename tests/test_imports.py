"""nn stays a pure NumPy library: importing it pulls in no web or queue stack."""

import ast
import subprocess
import sys
from pathlib import Path

import nn


def test_importing_nn_pulls_in_no_flask_celery_or_redis():
    code = (
        "import sys, nn; bad = [m for m in ('flask', 'celery', 'redis', 'kombu', "
        "'werkzeug', 'sklearn', 'scipy') if m in sys.modules]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_blas_threads_are_controllable():
    # scipy (loaded by the sklearn tests) brings an OpenBLAS of its own: NumPy's must be
    # the one that is pinned
    import scipy.linalg  # noqa: F401

    before = nn.blas_threads()
    if before is None:  # a NumPy built without OpenBLAS: nothing to control
        assert nn.set_blas_threads(1) is False
        return
    from threadpoolctl import threadpool_info

    def numpy_blas_threads():
        return next(
            p["num_threads"]
            for p in threadpool_info()
            if p["internal_api"] == "openblas" and "numpy" in p["filepath"]
        )

    try:
        assert nn.set_blas_threads(1) is True
        assert nn.blas_threads() == 1 and numpy_blas_threads() == 1
    finally:
        nn.set_blas_threads(before)


def test_registry_is_what_the_api_reads():
    assert "softmax" not in nn.ACTIVATIONS
    assert set(nn.OUTPUTS) == {"sigmoid", "softmax", "linear"}
    assert "swish" in nn.hidden_activation_names()
    assert set(nn.OPTIMIZERS) == {"sgd", "momentum", "rmsprop", "adam"}


NN = Path(nn.__file__).resolve().parent
OURS = ("nn", "registry", "service", "worker", "client")


def _imports(path: Path) -> set[str]:
    """Every module of ours ``path`` imports, at any depth of its code, as dotted names."""
    package = ["nn", *path.relative_to(NN).with_suffix("").parts][:-1]
    if path.name == "__init__.py":
        package = ["nn", *path.parent.relative_to(NN).parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # "from . import x" imports the module x when x is one
            found.update(
                f"{module}.{alias.name}"
                if (NN / Path(*f"{module}.{alias.name}".split(".")[1:])).with_suffix(".py").exists()
                else module
                for alias in node.names
            )
    return {name for name in found if name.split(".")[0] in OURS}


def nn_import_graph() -> dict[str, set[str]]:
    """Module of nn -> the modules of ours it imports (the package itself left out)."""
    return {
        ".".join(["nn", *p.relative_to(NN).with_suffix("").parts]): _imports(p) - {"nn"}
        for p in sorted(NN.rglob("*.py"))
        if p.name != "__init__.py"
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle of ``graph`` once, as the path that closes it."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for node in graph:
        visit(node, [])
    return found


def test_nn_has_no_import_cycle_and_imports_nothing_of_ours_but_itself():
    graph = nn_import_graph()
    assert "nn.model" in graph and "nn.serialize" in graph["nn.model"]
    assert cycles(graph) == []
    outside = {m: sorted(i for i in deps if not i.startswith("nn.")) for m, deps in graph.items()}
    assert {m: deps for m, deps in outside.items() if deps} == {}


def test_the_shared_rules_are_leaves():
    graph = nn_import_graph()
    assert graph["nn.errors"] == set() and graph["nn.limits"] == set()
    assert graph["nn.params"] == {"nn.errors"}


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
