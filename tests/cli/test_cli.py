"""The agreement-operator command, run as users run it: a separate process."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agreement_operator import __version__

pytestmark = pytest.mark.slow

GOOD = """\
apiVersion: agreement.dev/v1alpha1
kind: AgreementMetric
metadata:
  name: sentiment
  namespace: labeling
spec:
  prefix: nlp
  code: |
    def agreement(annotation_1, annotation_2, per_label=False):
        return 1.0
"""

BAD = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-metric
---
apiVersion: agreement.dev/v1alpha1
kind: AgreementMetric
metadata:
  name: broken
spec:
  tags:
    aws:team: nlp
  code: |
    def agreement(annotation_1, annotation_2, per_label=False):
        x = [1,
        return 1
---
apiVersion: agreement.dev/v1alpha1
kind: AgreementMetric
metadata:
  name: misplaced
spec:
  prefix: "bad prefix"
  code: |
    class Metric:
        def agreement(self, a, b, per_label=False):
            return 1
"""


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "agreement_operator", *args], capture_output=True, text=True,
                          env=env, check=False)


@pytest.fixture
def manifests(tmp_path):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    return tmp_path


def test_validate_passes_a_good_manifest(manifests):
    result = cli("validate", str(manifests / "good.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "1 metric(s) checked, 0 problem(s)" in result.stderr


def test_validate_reports_each_problem_as_file_metric_line_message(manifests):
    result = cli("validate", str(manifests))
    bad = manifests / "bad.yaml"
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{bad}: metric broken: line 2: syntax error: '[' was never closed" in lines
    assert any(line.startswith(f"{bad}: metric broken: spec.tags['aws:team']") for line in lines)
    assert any(line.startswith(f"{bad}: metric misplaced: spec.prefix 'bad prefix'") for line in lines)
    assert any(line.startswith(f"{bad}: metric misplaced: line 2: `agreement` is defined inside class `Metric`")
               for line in lines)
    assert len(lines) == 4
    assert "3 metric(s) checked, 4 problem(s)" in result.stderr


def test_validate_reports_yaml_errors_with_their_line(tmp_path):
    (tmp_path / "broken.yaml").write_text("kind: AgreementMetric\nspec: [\n")
    result = cli("validate", str(tmp_path / "broken.yaml"))
    assert result.returncode == 1
    assert f"{tmp_path / 'broken.yaml'}: line 3: not valid YAML" in result.stdout


def test_validate_with_no_metric_fails(tmp_path):
    (tmp_path / "cm.yaml").write_text("kind: ConfigMap\n")
    assert cli("validate", str(tmp_path / "cm.yaml")).returncode == 1


def test_package_writes_the_same_zip_and_code_sha256_twice(manifests, tmp_path):
    first = cli("package", str(manifests / "good.yaml"), "-o", str(tmp_path / "a.zip"))
    second = cli("package", str(manifests / "good.yaml"), "-o", str(tmp_path / "b.zip"))
    assert first.returncode == 0, first.stderr
    assert "function: custom-metric-nlp-labeling-sentiment" in first.stdout
    sha_lines = [line for line in first.stdout.splitlines() if line.startswith("CodeSha256: ")]
    assert len(sha_lines) == 1
    assert first.stdout.splitlines()[:2] == second.stdout.splitlines()[:2]
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_package_refuses_invalid_code_and_writes_nothing(manifests, tmp_path):
    result = cli("package", str(manifests / "bad.yaml"), "--name", "broken", "-o", str(tmp_path / "x.zip"))
    assert result.returncode == 1
    assert "syntax error" in result.stderr
    assert not (tmp_path / "x.zip").exists()


def test_package_asks_which_metric_when_a_file_has_several(manifests, tmp_path):
    result = cli("package", str(manifests / "bad.yaml"), "-o", str(tmp_path / "x.zip"))
    assert result.returncode == 1
    assert "several metrics (broken, misplaced); choose one with --name" in result.stderr


def test_run_stops_at_once_naming_a_missing_setting():
    result = cli("run", env={"PATH": "/usr/bin:/bin", "AWS_REGION": "us-east-1"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "agreement-operator: configuration error: LS_LAMBDA_ROLE_CUSTOM_METRICS is not set; set it to the "
        "functions' execution role ARN, e.g. arn:aws:iam::123456789012:role/LSE_CustomMetricsExecuteRole"
    ]


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("agreement-operator")
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert result.stdout.strip() == f"agreement-operator {__version__}"


def test_examples_validate_except_the_deliberately_broken_ones():
    examples = Path(__file__).parents[2] / "examples"
    # The Argo CD health check's case of a Stalled metric: an object the operator wrote for broken code.
    stalled = examples / "gitops" / "argocd" / "resource_customizations" / "agreement.dev" / "AgreementMetric" / \
        "testdata" / "stalled.yaml"
    result = cli("validate", str(examples))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{examples / 'broken-metric.yaml'}: metric broken-metric: line 2: syntax error: '[' was never closed",
        f"{stalled}: metric broken: line 1: syntax error: invalid syntax",
    ]


CODE_FROM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: metric-code
data:
  metric.py: |
    def agreement(annotation_1, annotation_2):
        return 1.0
---
apiVersion: agreement.dev/v1alpha1
kind: AgreementMetric
metadata:
  name: from-configmap
spec:
  codeFrom:
    configMapKeyRef: {name: metric-code, key: metric.py}
---
apiVersion: agreement.dev/v1alpha1
kind: AgreementMetric
metadata:
  name: elsewhere
spec:
  codeFrom:
    configMapKeyRef: {name: not-in-these-files, key: metric.py}
"""


def test_validate_checks_code_from_configmaps_in_the_given_files(tmp_path):
    (tmp_path / "all.yaml").write_text(CODE_FROM)
    result = cli("validate", str(tmp_path))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{tmp_path / 'all.yaml'}: metric from-configmap: line 1: `agreement` has no `per_label` parameter; "
        "use `def agreement(annotation_1, annotation_2, per_label=False)`"
    ]
    assert ("metric elsewhere: note: its code is in ConfigMap not-in-these-files, which is not among the files "
            "given; the code was not checked") in result.stderr


def test_test_command_prints_a_table_and_fails_on_any_failure():
    manifest = Path(__file__).parents[1] / "data" / "choices-with-tests.yaml"
    result = cli("test", str(manifest))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["TEST", "EXPECTED", "ACTUAL", "RESULT", "ERROR"]
    rows = {line.split()[0]: line for line in lines[2:-1]}
    assert rows["same"].split()[1:4] == ["1", "1", "pass"]
    assert rows["wrong"].split()[1:4] == ["1", "0", "FAIL"]
    assert rows["crash"].endswith("ZeroDivisionError: division by zero (metric.py, line 6)")
    assert "pass" in rows["labels"]
    assert lines[-1] == "3 passed, 2 failed"


def test_test_command_with_pairs_from_a_file(tmp_path):
    manifest = Path(__file__).parents[1] / "data" / "choices-with-tests.yaml"
    pairs = [{"name": "only", "annotation1": {"result": [{"type": "choices", "value": {"choices": ["A"]}}]},
              "annotation2": {"result": [{"type": "choices", "value": {"choices": ["A"]}}]}, "expect": 1}]
    (tmp_path / "pairs.json").write_text(__import__("json").dumps(pairs))
    result = cli("test", str(manifest), "--pairs", str(tmp_path / "pairs.json"))
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1] == "1 passed, 0 failed"


def test_test_command_reports_invalid_code_instead_of_running_it(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD)
    result = cli("test", str(tmp_path / "bad.yaml"))
    assert result.returncode == 1
    assert "  line 2: syntax error: '[' was never closed" in result.stdout


# The ConfigMap and the metric that uses it, with the signature fixed.
CODE_FROM_VALID = "\n---\n".join(CODE_FROM.split("\n---\n")[:2]).replace(
    "(annotation_1, annotation_2)", "(annotation_1, annotation_2, per_label=False)") + "\n"


def test_package_agrees_with_validate_on_code_from_a_configmap_in_the_file(tmp_path):
    (tmp_path / "metric.yaml").write_text(CODE_FROM_VALID)
    assert cli("validate", str(tmp_path / "metric.yaml")).returncode == 0
    result = cli("package", str(tmp_path / "metric.yaml"), "-o", str(tmp_path / "m.zip"))
    assert result.returncode == 0, result.stderr
    assert "function: custom-metric-default-from-configmap" in result.stdout
    assert zipfile.ZipFile(tmp_path / "m.zip").read("metric.py").startswith(b"def agreement(")


def _manifest(code: str) -> str:
    indented = "".join(f"    {line}\n" for line in code.splitlines())
    header = "apiVersion: agreement.dev/v1alpha1\nkind: AgreementMetric\nmetadata:\n  name: m\n"
    return f"{header}spec:\n  code: |\n{indented}"


def test_validate_reports_code_nested_too_deeply_without_a_traceback(tmp_path):
    (tmp_path / "deep.yaml").write_text(_manifest("x = " + "-" * 5000 + "1\ndef agreement(a, b, per_label=False):\n"
                                                  "    return 1.0"))
    result = cli("validate", str(tmp_path))
    assert result.returncode == 1
    assert "metric m: the code is nested too deeply for Python to compile" in result.stdout
    assert "Traceback" not in result.stderr


def test_validate_warns_about_imports_lambda_lacks_and_still_passes(tmp_path):
    (tmp_path / "np.yaml").write_text(_manifest("import numpy\ndef agreement(a, b, per_label=False):\n"
                                                "    return 1.0"))
    result = cli("validate", str(tmp_path))
    assert result.returncode == 0
    assert "metric m: warning: line 1: imports numpy, which Lambda's Python runtime does not include" in result.stdout


def test_a_command_imports_only_its_own_module(manifests):
    """`validate` starts without kopf, boto3 or any other command's module: the table imports a
    command's module only when that command runs."""
    program = (
        "import sys\nfrom agreement_operator.cli.main import main\nmain(['validate', sys.argv[1]])\n"
        "heavy = ['kopf', 'boto3', 'agreement_operator.cli.score', 'agreement_operator.controller.handlers']\n"
        "print('loaded:', [name for name in heavy if name in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", program, str(manifests / "good.yaml")], capture_output=True,
                            text=True, check=True)
    assert result.stdout.splitlines()[-1] == "loaded: []"


def test_help_lists_every_command_and_each_command_its_arguments():
    listing = cli("--help")
    assert listing.returncode == 0
    for command in ("run", "validate", "package", "test", "score", "logs", "dev", "demo"):
        assert f"\n  {command} " in listing.stdout
    score = cli("score", "--help")
    assert score.returncode == 0 and "usage: agreement-operator score" in score.stdout
    assert "--per-label" in score.stdout and "{table,json,csv,html}" in score.stdout
    unknown = cli("scores")
    assert unknown.returncode == 2 and "invalid choice: 'scores'" in unknown.stderr
