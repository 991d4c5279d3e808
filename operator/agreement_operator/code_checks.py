"""Static checks of a metric's Python source. Nothing here runs the user's code.

`compile()` only turns source into bytecode; no statement of the metric executes.
"""

import ast
from dataclasses import dataclass

MAX_CODE_CHARS = 262144
SIGNATURE = "def agreement(annotation_1, annotation_2, per_label=False)"


@dataclass(frozen=True)
class CodeProblem:
    message: str
    line: int | None = None


def check_code(code: object) -> list[CodeProblem]:
    """Problems that would stop `code` working as a Label Studio agreement metric."""
    if not isinstance(code, str) or not code.strip():
        return [CodeProblem(f"the metric code is empty; write a function `{SIGNATURE}`")]
    if len(code) > MAX_CODE_CHARS:
        return [CodeProblem(
            f"the metric code is {len(code)} characters; at most {MAX_CODE_CHARS} are allowed, "
            "move data out of the code or shorten it"
        )]
    try:
        tree = ast.parse(code, filename="metric.py")
        compile(tree, "metric.py", "exec", dont_inherit=True)
    except SyntaxError as error:
        return [CodeProblem(f"syntax error: {error.msg}", error.lineno)]
    except ValueError as error:  # e.g. a NUL byte in the source
        return [CodeProblem(f"the code cannot be compiled: {error}")]
    return _agreement_problems(tree)


def _agreement_problems(tree: ast.Module) -> list[CodeProblem]:
    top_level = [node for node in tree.body if _binds_agreement(node)]
    if not top_level:
        return [_missing_agreement(tree)]
    definition = top_level[-1]  # as in Python, the last binding wins
    if isinstance(definition, ast.AsyncFunctionDef):
        return [CodeProblem("`agreement` must be a plain `def`, not `async def`", definition.lineno)]
    if not isinstance(definition, ast.FunctionDef):
        return [CodeProblem(
            f"`agreement` is assigned, not defined; write `{SIGNATURE}` at the top level",
            definition.lineno,
        )]
    return [CodeProblem(message, definition.lineno) for message in _signature_problems(definition.args)]


def _binds_agreement(node: ast.stmt) -> bool:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name == "agreement"
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(target, ast.Name) and target.id == "agreement" for target in targets)
    return False


def _missing_agreement(tree: ast.Module) -> CodeProblem:
    for container in ast.walk(tree):
        for child in ast.iter_child_nodes(container):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and child.name == "agreement":
                where = _describe_container(container)
                return CodeProblem(
                    f"`agreement` is defined inside {where}; Label Studio calls a top-level "
                    f"function: move `{SIGNATURE}` to the top level of the module",
                    child.lineno,
                )
    return CodeProblem(f"no function named `agreement`; define `{SIGNATURE}` at the top level")


def _describe_container(node: ast.AST) -> str:
    if isinstance(node, ast.ClassDef):
        return f"class `{node.name}`"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return f"function `{node.name}`"
    return f"an `{type(node).__name__.lower()}` block"


def _signature_problems(args: ast.arguments) -> list[str]:
    positional = [*args.posonlyargs, *args.args]
    names = [arg.arg for arg in positional]
    problems = []
    if len(positional) < 2 and args.vararg is None:
        problems.append(
            f"`agreement` takes {len(positional)} positional parameter(s); it needs two, "
            f"the two annotations: `{SIGNATURE}`"
        )
    if "per_label" in names[:2]:
        problems.append(
            "`per_label` must come after the two annotation parameters: " f"`{SIGNATURE}`"
        )
    elif "per_label" in [arg.arg for arg in args.posonlyargs]:
        problems.append("`per_label` is positional-only; Label Studio passes it by keyword")
    kwonly = [arg.arg for arg in args.kwonlyargs]
    if "per_label" not in names and "per_label" not in kwonly and args.kwarg is None:
        problems.append(f"`agreement` has no `per_label` parameter; use `{SIGNATURE}`")
    problems.extend(_required_extras(args, names, kwonly))
    return problems


def _required_extras(args: ast.arguments, names: list[str], kwonly: list[str]) -> list[str]:
    """Parameters beyond the annotations and per_label that nobody will pass."""
    first_default = len(names) - len(args.defaults)
    extras = [
        name for index, name in enumerate(names)
        if index >= 2 and index < first_default and name != "per_label"
    ]
    extras += [
        name for name, default in zip(kwonly, args.kw_defaults)
        if default is None and name != "per_label"
    ]
    return [
        f"parameter `{name}` has no default value; Label Studio passes only the two "
        "annotations and `per_label`, so give it a default or remove it"
        for name in extras
    ]
