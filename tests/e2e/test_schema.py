"""The apiserver itself enforces the CRD schema (no operator involved)."""

import pytest
import yaml

from agreement_operator.metric import spec as metric_spec

CODE = "def agreement(a, b, per_label=False):\n    return 1.0\n"


def dry_run(box, spec):
    manifest = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                "metadata": {"name": "schema-check", "namespace": "default"}, "spec": spec}
    return box.control_plane.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(manifest),
                                     check=False)


def test_the_crd_is_established_and_has_its_short_name(box):
    result = box.control_plane.kubectl("api-resources", "--api-group=agreement.dev", "-o", "wide")
    assert "agreementmetrics" in result.stdout and " am " in result.stdout


def test_a_valid_manifest_is_accepted_with_defaults(box):
    result = box.control_plane.kubectl(
        "apply", "--dry-run=server", "-o", "yaml", "-f", "-",
        input=yaml.safe_dump({"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                              "metadata": {"name": "ok", "namespace": "default"}, "spec": {"code": CODE}}))
    spec = yaml.safe_load(result.stdout)["spec"]
    assert spec["deletionPolicy"] == "Delete"
    # The Lambda settings get their defaults from the operator, not the schema: a default the
    # apiserver wrote in would be refused by the rules for spec.labelStudio below.
    assert not {"runtime", "timeoutSeconds", "memoryMB"} & set(spec)


def test_a_label_studio_target_is_accepted_with_retain(box):
    result = dry_run(box, {"code": CODE, "labelStudio": {"project": 3, "metricName": "custom"},
                           "deletionPolicy": "Retain"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("field", metric_spec.LAMBDA_ONLY_FIELDS)
def test_lambda_settings_are_refused_with_a_label_studio_target(box, field):
    values = {"prefix": "nlp", "tags": {"team": "x"}, "runtime": "python3.12", "memoryMB": 256,
              "timeoutSeconds": 30, "description": "d"}
    result = dry_run(box, {"code": CODE, "labelStudio": {"project": 1}, field: values[field]})
    assert result.returncode != 0
    assert metric_spec.lambda_only_message(field) in result.stderr, result.stderr


@pytest.mark.parametrize(("target", "message"), [
    ({}, "spec.labelStudio.project: Required value"),
    ({"project": 0}, "spec.labelStudio.project in body should be greater than or equal to 1"),
    ({"project": 1, "metricName": ""}, "spec.labelStudio.metricName in body should be at least 1 chars long"),
])
def test_the_label_studio_target_is_checked(box, target, message):
    result = dry_run(box, {"code": CODE, "labelStudio": target})
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize(("spec", "message"), [
    ({"code": CODE, "codeFrom": {"configMapKeyRef": {"name": "m", "key": "k"}}},
     "set exactly one of spec.code and spec.codeFrom"),
    ({"prefix": "nlp"}, "set exactly one of spec.code and spec.codeFrom"),
    ({"code": CODE, "memoryMB": 64}, "spec.memoryMB in body should be greater than or equal to 128"),
    ({"code": CODE, "memoryMB": 10241}, "spec.memoryMB in body should be less than or equal to 10240"),
    ({"code": CODE, "timeoutSeconds": 0}, "spec.timeoutSeconds in body should be greater than or equal to 1"),
    ({"code": CODE, "deletionPolicy": "Orphan"}, 'Unsupported value: "Orphan"'),
    ({"code": CODE, "prefix": "bad prefix"}, "spec.prefix in body should match"),
    ({"code": CODE, "tags": {"aws:team": "x"}}, "tag keys starting with 'aws:' are reserved by AWS"),
    ({"code": CODE, "tags": {"agreement.dev/name": "x"}}, "are set by the operator"),
    ({"code": CODE, "tags": {f"k{i}": "v" for i in range(41)}}, "must have at most 40 items"),
    ({"code": "x" * 262145}, "spec.code: Too long"),
])
def test_the_apiserver_rejects_what_breaks_the_schema(box, spec, message):
    result = dry_run(box, spec)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_kubectl_explain_teaches_the_api(box):
    text = box.control_plane.kubectl("explain", "agreementmetric.spec.deletionPolicy").stdout
    assert "Retain leaves it in" in text
