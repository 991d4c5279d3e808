"""examples/metrics: one metric per Label Studio result type, each passing its own spec.tests."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

LIBRARY = Path(__file__).parent.parent / "examples" / "metrics"
MANIFESTS = sorted(LIBRARY.glob("*.yaml"))
RESULT_TYPES = {"choices", "labels", "rectanglelabels", "polygonlabels", "keypointlabels", "textarea", "rating",
                "number", "taxonomy", "datetime", "pairwise"}


def spec(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["spec"]


@pytest.mark.slow
def test_every_library_metric_passes_its_tests_through_the_packaged_handler():
    result = subprocess.run([sys.executable, "-m", "agreement_operator", "test", str(LIBRARY)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    total = sum(len(spec(path)["tests"]) for path in MANIFESTS)
    assert result.stdout.splitlines()[-1] == f"{total} passed, 0 failed"


def test_every_result_type_is_covered():
    covered = set()
    for path in MANIFESTS:
        code = spec(path)["code"]
        covered |= {kind for kind in RESULT_TYPES if f'"{kind}"' in code}
    assert covered == RESULT_TYPES


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.stem)
def test_metric_uses_only_the_standard_library(path):
    tree = ast.parse(spec(path)["code"])
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert modules <= sys.stdlib_module_names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.stem)
def test_metric_tests_cover_per_label_and_empty_or_skipped_annotations(path):
    tests = spec(path)["tests"]
    assert any(test.get("perLabel") for test in tests)
    assert any(not test["annotation1"]["result"] or test["annotation1"].get("was_cancelled")
               or not test["annotation2"]["result"] for test in tests)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.stem)
def test_metric_carries_label_studios_published_examples(path):
    """Each library metric reproduces the worked examples Label Studio publishes for its built-in
    (run by the test above); docs/metric-library.md lists them."""
    published = [test for test in spec(path)["tests"] if test["name"].startswith("Label Studio example: ")]
    assert published, f"{path.name} has no test named 'Label Studio example: ...'"
    assert all("expect" in test for test in published)


def test_metric_library_doc_lists_every_published_example():
    doc = (LIBRARY.parent.parent / "docs" / "metric-library.md").read_text()
    for path in MANIFESTS:
        assert f"examples/metrics/{path.name}" in doc
        for test in spec(path)["tests"]:
            if test["name"].startswith("Label Studio example: "):
                assert test["name"].removeprefix("Label Studio example: ") in doc, (path.name, test["name"])
