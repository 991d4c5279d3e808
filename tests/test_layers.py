"""The package's layering, read from the source with ast: which part may import which, where the
heavy libraries may be imported, no import cycles, and no module over 400 lines.

The parts are the folders of operator/agreement_operator/ and its top-level modules. A part
lower in the table below never imports one higher up: what a metric is (metric/) and what
ships in its zip (function/) know nothing of Kubernetes or of any target; no target knows
another target or the control loop.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "operator" / "agreement_operator"
MAX_LINES = 400

# part -> the parts it may import (besides itself).
MAY_IMPORT = {
    "failures": set(),
    "crd": set(),
    "aws_connections": set(),
    "config": {"aws_connections"},
    "settings": set(),
    "reasons": set(),
    "http_connections": set(),
    "metric": {"crd", "failures"},
    "schema": {"crd"},
    "function": set(),
    "target": {"crd", "config", "failures", "metric"},
    "lambda_target": {"crd", "config", "aws_connections", "failures", "metric", "function", "target"},
    "label_studio_target": {"crd", "config", "failures", "metric", "function", "target", "http_connections"},
    "score": {"function"},
    "controller": {"crd", "config", "failures", "metric", "function", "target", "http_connections", "lambda_target",
                   "label_studio_target", "schema"},
    "cli": {"__init__", "config", "failures", "metric", "function", "lambda_target", "label_studio_target",
            "controller", "score", "sandbox", "schema", "settings", "reasons"},
    "sandbox": {"failures", "function", "label_studio_target", "controller"},
    "__init__": set(),
    "__main__": {"cli"},
}
# Libraries that pull in a lot, or belong to one seam: who may import them.
LIBRARIES = {
    "kopf": {"controller", "cli"},
    "aiohttp": {"controller"},
    "boto3": {"lambda_target", "sandbox"},
    "botocore": {"lambda_target", "sandbox"},
    "prometheus_client": {"controller"},
    "moto": {"sandbox"},
}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = modules()


def part(module: str) -> str:
    """The folder a module is in, or its own name for a top-level module (`agreement_operator` is `__init__`)."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def imports(path: Path, module_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, imported name) of every import in the file; names of the package resolved to modules."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((node.lineno, submodule if submodule in MODULES else node.module))
    return found


def violations(may_import: dict[str, set[str]], libraries: dict[str, set[str]]) -> list[str]:
    found = []
    for module, path in MODULES.items():
        where = part(module)
        for line, name in imports(path):
            top = name.split(".")[0]
            if top == "agreement_operator":
                other = part(name) if name in MODULES else "__init__"
                if other != where and other not in may_import[where]:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {where} imports {name} ({other})")
            elif top in libraries and where not in libraries[top]:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {where} imports {top}")
    return found


def test_every_part_is_in_the_table():
    assert {part(module) for module in MODULES} == set(MAY_IMPORT)


def test_each_part_imports_only_the_parts_below_it():
    assert violations(MAY_IMPORT, LIBRARIES) == []


def test_the_rules_catch_an_import_upwards():
    """The check itself: were the sandbox not allowed the controller, its import of conditions would be reported."""
    stricter = {**MAY_IMPORT, "sandbox": MAY_IMPORT["sandbox"] - {"controller"}}
    found = violations(stricter, LIBRARIES)
    assert any("sandbox imports agreement_operator.controller.conditions" in line for line in found), found


def test_nothing_outside_the_sandbox_imports_it_when_loaded():
    """The wheel and the image leave the sandbox out: only a command that runs it may import it, lazily."""
    for module, path in MODULES.items():
        if part(module) != "sandbox":
            loaded = [name for _, name in imports(path, module_level_only=True)]
            assert not [name for name in loaded if name.startswith("agreement_operator.sandbox")], module


def test_no_import_cycles():
    graph = {module: {name for _, name in imports(path, module_level_only=True) if name in MODULES}
             for module, path in MODULES.items()}
    visiting, done = set(), set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        if module in done:
            return
        assert module not in visiting, " -> ".join((*trail, module))
        visiting.add(module)
        for imported in graph[module]:
            visit(imported, (*trail, module))
        visiting.discard(module)
        done.add(module)

    for module in graph:
        visit(module, ())


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_400_lines(module):
    assert len(MODULES[module].read_text().splitlines()) <= MAX_LINES
