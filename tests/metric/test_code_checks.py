import pytest

from agreement_operator.metric.code_checks import MAX_CODE_CHARS, check_code, unavailable_imports

GOOD = [
    "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n",
    "def agreement(a, b, per_label):\n    return 1.0\n",
    "def agreement(a, b, *, per_label=False):\n    return 1.0\n",
    "def agreement(a, b, **options):\n    return 1.0\n",
    "def agreement(a, b, per_label=False, weight=0.5):\n    return weight\n",
    "def agreement(*annotations, per_label=False):\n    return 1.0\n",
    "import math\n\nagreement = None\n\ndef agreement(a, b, per_label=False):\n    return math.sqrt(1)\n",
    "def agreement(a, b, per_label=False) -> float:\n    return 1.0\n",
]


@pytest.mark.parametrize("code", GOOD)
def test_valid_metrics_have_no_problems(code):
    assert check_code(code) == []


def one_problem(code):
    problems = check_code(code)
    assert len(problems) >= 1, f"expected a problem for {code!r}"
    return problems[0]


def test_syntax_error_names_its_line():
    problem = one_problem("def agreement(a, b, per_label=False):\n    x = (1,\n    return 1\n\n")
    assert problem.line in (2, 3)
    assert "syntax error" in problem.message


def test_errors_only_compile_finds_are_caught_too():
    problem = one_problem("def agreement(a, b, per_label=False):\n    return 1\nreturn 2\n")
    assert problem.line == 3 and "'return' outside function" in problem.message


def test_missing_agreement():
    problem = one_problem("def score(a, b):\n    return 1\n")
    assert "no function named `agreement`" in problem.message
    assert "def agreement(annotation_1, annotation_2, per_label=False)" in problem.message


@pytest.mark.parametrize(("code", "where"), [
    ("class Metric:\n    def agreement(self, a, b, per_label=False):\n        return 1\n", "class `Metric`"),
    ("import os\nif os.environ:\n    def agreement(a, b, per_label=False):\n        return 1\n", "`if` block"),
    ("def outer():\n    def agreement(a, b, per_label=False):\n        return 1\n", "function `outer`"),
])
def test_agreement_not_at_top_level_is_located(code, where):
    problem = one_problem(code)
    assert where in problem.message and "top level" in problem.message
    assert problem.line is not None


@pytest.mark.parametrize(("code", "words"), [
    ("def agreement(annotation):\n    return 1\n", "it needs two"),
    ("def agreement():\n    return 1\n", "it needs two"),
    ("def agreement(a, b):\n    return 1\n", "no `per_label` parameter"),
    ("def agreement(per_label, a, b):\n    return 1\n", "must come after"),
    ("def agreement(a, b, per_label, /):\n    return 1\n", "positional-only"),
    ("def agreement(a, b, c, per_label=False):\n    return 1\n", "parameter `c` has no default"),
    ("def agreement(a, b, per_label=False, *, strict):\n    return 1\n", "parameter `strict` has no default"),
    ("async def agreement(a, b, per_label=False):\n    return 1\n", "not `async def`"),
    ("agreement = lambda a, b, per_label=False: 1\n", "assigned, not defined"),
])
def test_wrong_parameters_are_explained(code, words):
    problem = one_problem(code)
    assert words in problem.message
    assert problem.line == 1


@pytest.mark.parametrize("code", ["", "   \n\n", None])
def test_empty_code(code):
    assert "empty" in one_problem(code).message


def test_code_over_the_size_limit():
    code = "def agreement(a, b, per_label=False):\n    return 1\n" + "#" * MAX_CODE_CHARS
    problem = one_problem(code)
    assert f"at most {MAX_CODE_CHARS}" in problem.message


def test_checking_never_runs_the_code(tmp_path):
    marker = tmp_path / "ran"
    code = (
        f"open({str(marker)!r}, 'w').write('x')\n"
        "def agreement(a, b, per_label=False):\n    return 1\n"
    )
    assert check_code(code) == []
    assert not marker.exists()


OK = "def agreement(a, b, per_label=False):\n    return 1.0\n"


@pytest.mark.parametrize("nested", [
    "x = " + "-" * 5000 + "1\n",  # about 5 KB of unary minus
    "x = " + "+".join(["1"] * 20000) + "\n",  # thousands of chained additions
    "x = " + "lambda: " * 2000 + "1\n",  # nested lambdas
])
def test_code_nested_too_deeply_is_a_problem_not_a_crash(nested):
    problem = one_problem(nested + OK)
    assert "nested too deeply" in problem.message
    assert "split the expression" in problem.message


@pytest.mark.parametrize(("declaration", "says"), [
    ("# -*- coding: ascii -*-", "'ascii' codec can't decode"),  # would fail at import in Lambda
    ("# -*- coding: no-such-codec -*-", "unknown encoding"),  # ditto
    ("# -*- coding: latin-1 -*-", "would read its non-ASCII text differently"),  # garbles literals silently
])
def test_a_coding_line_that_misreads_the_shipped_utf8_is_a_problem(declaration, says):
    problem = one_problem(f"{declaration}\n{OK}LABEL = 'négatif'\n")
    assert says in problem.message
    assert "remove the coding line or declare utf-8" in problem.message
    assert problem.line == 1


@pytest.mark.parametrize("declaration", ["# -*- coding: utf-8 -*-", "# coding: latin-1"])
def test_a_coding_line_that_reads_the_code_as_written_is_fine(declaration):
    # latin-1 reads pure ASCII exactly as UTF-8 does.
    assert check_code(f"{declaration}\n{OK}") == []


def test_a_byte_order_mark_is_accepted():
    assert check_code("\ufeff" + OK) == []


def test_a_lone_surrogate_is_a_problem_not_a_crash():
    assert "lone surrogate" in one_problem(OK + "x = '\ud800'\n").message


def test_imports_lambda_lacks_are_named_with_their_lines():
    code = "import json\nimport numpy as np\nfrom scipy.stats import entropy\nimport boto3\n" + OK
    warnings = unavailable_imports(code)
    assert [(w.line, w.message.split(",")[0]) for w in warnings] == [(2, "imports numpy"), (3, "imports scipy")]
    assert "Lambda layer" in warnings[0].message


def test_standard_library_and_the_aws_sdk_are_available():
    assert unavailable_imports("import json, math, collections.abc\nimport boto3\nfrom dateutil import parser\n") == []
