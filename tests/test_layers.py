"""The layers of ARCHITECTURE.md only point down: no module imports one of a higher layer.

Every import statement of every module is read with `ast` (those inside functions too, which the
commands use to load torch lazily), so the rule holds whatever runs first.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# (rank, layer, folder, import name): the table of ARCHITECTURE.md, bottom first. A module belongs to
# the layer of the deepest folder that holds it; spk2vid_cli/__main__.py (`python -m spk2vid_cli`)
# is the commands' entry point.
LAYERS = [
    (0, "network", "model", "spk2vid_model"),
    (1, "library", "spk2vid_cli", "spk2vid_cli"),
    (2, "training", "spk2vid_cli/training", "spk2vid_cli.training"),
    (3, "commands", "spk2vid_cli/commands", "spk2vid_cli.commands"),
]
ENTRY_POINTS = {"spk2vid_cli.__main__": 3}
# What the network may import besides itself: it runs wherever torch does.
NETWORK_DEPENDENCIES = {"torch", "numpy"}
LAYER_NAMES = {rank: name for rank, name, _, _ in LAYERS}


def module_name(path: Path) -> str:
    """The import name of a module file of the repository (model/ installs as spk2vid_model)."""
    for _, _, folder, name in sorted(LAYERS, key=lambda layer: -len(layer[2])):
        if path.is_relative_to(REPO / folder):
            parts = [*name.split("."), *path.relative_to(REPO / folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise AssertionError(f"{path} is in no layer")


def rank(module: str) -> int | None:
    """The layer rank of an import name of the project; None for anything else (stdlib, third party)."""
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    matches = [(len(name), layer) for layer, _, _, name in LAYERS if module == name or module.startswith(name + ".")]
    return max(matches)[1] if matches else None


def sources() -> list[Path]:
    return sorted({path for _, _, folder, _ in LAYERS for path in (REPO / folder).rglob("*.py")})


MODULES = {module_name(path) for path in sources()}


def imports(path: Path, text: str | None = None) -> list[tuple[int, str]]:
    """(line, imported module) of every import in `path` (or in `text`, read as that file);
    `from P import m` counts as P.m when m is a module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            found += [(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
                      for alias in node.names]
    return found


def test_every_module_has_a_layer():
    assert {rank(name) for name in MODULES} == {0, 1, 2, 3}


@pytest.mark.parametrize("path", sources(), ids=lambda path: str(path.relative_to(REPO)))
def test_no_module_imports_a_higher_layer(path):
    assert not upward_imports(path), (f"{path.relative_to(REPO)} ({LAYER_NAMES[rank(module_name(path))]} layer) "
                                      f"imports a higher layer: {upward_imports(path)}")


def upward_imports(path: Path, text: str | None = None) -> list[str]:
    here = rank(module_name(path))
    return [f"line {line}: {target} ({LAYER_NAMES[rank(target)]})" for line, target in imports(path, text)
            if rank(target) is not None and rank(target) > here]


@pytest.mark.parametrize("path", sorted((REPO / "model").rglob("*.py")), ids=lambda path: path.name)
def test_the_network_imports_only_torch_numpy_and_itself(path):
    allowed = sys.stdlib_module_names | NETWORK_DEPENDENCIES | {"spk2vid_model"}
    outside = [f"line {line}: {target}" for line, target in imports(path) if target.split(".")[0] not in allowed]
    assert not outside, f"{path.relative_to(REPO)} imports {outside}"


def test_the_check_catches_upward_imports():
    """Not vacuous: the network importing the CLI package, or the library a command, is caught."""
    assert upward_imports(REPO / "model" / "weights.py", "from spk2vid_cli.errors import InputError\n") == [
        "line 1: spk2vid_cli.errors (library)"]
    assert upward_imports(REPO / "spk2vid_cli" / "net.py", "def f():\n    from spk2vid_cli import commands\n") == [
        "line 2: spk2vid_cli.commands (commands)"]
    assert upward_imports(REPO / "spk2vid_cli" / "training" / "train.py", "from ..commands.app import main\n") == [
        "line 1: spk2vid_cli.commands.app (commands)"]
    assert upward_imports(REPO / "spk2vid_cli" / "commands" / "app.py", "import spk2vid_model.model\n") == []
