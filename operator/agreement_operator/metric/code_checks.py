"""Static checks of a metric's Python source. Nothing here runs the user's code.

`compile()` only turns source into bytecode; no statement of the metric executes.
"""

import ast
import codecs
import io
import re
import sys
import tokenize
from dataclasses import dataclass

MAX_CODE_CHARS = 262144
SIGNATURE = "def agreement(annotation_1, annotation_2, per_label=False)"
BYTE_ORDER_MARK = "\ufeff"
# Importable in Lambda's Python runtimes besides the standard library: the AWS SDK and its dependencies.
LAMBDA_RUNTIME_PACKAGES = frozenset({
    "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six", "awslambdaric",
})
# Modules the zip itself provides.
PACKAGED_MODULES = frozenset({"metric", "agreement_handler"})
_CODING_LINE = re.compile(r"^[ \t\f]*#.*?coding[:=]")  # PEP 263


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
    code = code.removeprefix(BYTE_ORDER_MARK)
    try:
        source = code.encode("utf-8")  # exactly the bytes that ship as metric.py
    except UnicodeEncodeError as error:
        return [CodeProblem(
            f"the code holds {code[error.start]!r} (a lone surrogate), which cannot be saved as UTF-8; remove it",
            code.count("\n", 0, error.start) + 1,
        )]
    if problem := _declared_encoding_problem(source, code):
        return [problem]
    try:
        # Bytes, as Lambda reads the file: a `# -*- coding: ... -*-` line takes effect, as there.
        tree = ast.parse(source, filename="metric.py")
        compile(tree, "metric.py", "exec", dont_inherit=True)
    except SyntaxError as error:
        return [CodeProblem(f"syntax error: {error.msg}", error.lineno)]
    except (RecursionError, MemoryError):
        return [CodeProblem(
            "the code is nested too deeply for Python to compile (deeply nested brackets, operators or "
            "lambdas); split the expression into several statements"
        )]
    except ValueError as error:  # e.g. a NUL byte in the source
        return [CodeProblem(f"the code cannot be compiled: {error}")]
    return _agreement_problems(tree)


def _declared_encoding_problem(source: bytes, code: str) -> CodeProblem | None:
    """A `coding:` line that makes Python read the shipped UTF-8 file as other text than the spec's."""
    first_lines = code.split("\n", 2)[:2]
    line = next((number for number, text in enumerate(first_lines, 1) if _CODING_LINE.match(text)), None)
    if line is None:
        return None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        if codecs.lookup(encoding).name == "utf-8" or source.decode(encoding) == code:
            return None
        detail = f"the code declares the encoding {encoding!r}, so Python would read its non-ASCII text differently"
    except (SyntaxError, LookupError, UnicodeDecodeError) as error:
        detail = f"Python cannot read the code with its declared encoding ({error})"
    return CodeProblem(
        f"the operator ships the code as UTF-8, but {detail}; remove the coding line or declare utf-8", line
    )


def unavailable_imports(code: str) -> list[CodeProblem]:
    """Imports of modules that neither Lambda's Python runtime nor the zip provides (warnings:
    a layer may provide them). Call only on code that check_code accepted."""
    available = sys.stdlib_module_names | LAMBDA_RUNTIME_PACKAGES | PACKAGED_MODULES
    seen: dict[str, int] = {}
    for node in ast.walk(ast.parse(code.encode("utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top not in available:
                seen.setdefault(top, node.lineno)
    return [
        CodeProblem(f"imports {module}, which Lambda's Python runtime does not include; "
                    "add it with a Lambda layer or remove the import", line)
        for module, line in sorted(seen.items(), key=lambda item: item[1])
    ]


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
        name for name, default in zip(kwonly, args.kw_defaults, strict=True)
        if default is None and name != "per_label"
    ]
    return [
        f"parameter `{name}` has no default value; Label Studio passes only the two "
        "annotations and `per_label`, so give it a default or remove it"
        for name in extras
    ]
