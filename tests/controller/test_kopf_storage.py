"""kopf's diff base, as the operator stores it: a digest of what a change of the metric is (its spec, labels
and the annotations people set), never of what the operator or kopf write themselves."""

import kopf

from agreement_operator.controller import kopf_storage


def metric(spec: dict, status: dict | None = None, generation: int = 1, annotations: dict | None = None) -> kopf.Body:
    metadata = {"name": "sentiment", "namespace": "ns", "generation": generation, "annotations": annotations or {}}
    return kopf.Body({"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric", "metadata": metadata,
                      "spec": spec, "status": status or {}})


def storage():
    return kopf_storage.DigestDiffBaseStorage(prefix="kopf.agreement.dev", key="last-handled-configuration")


def test_the_diff_base_is_small_for_the_largest_spec():
    code = "# é \"quoted\"\n" * (262144 // 13)
    essence = storage().build(body=metric({"code": code}))
    assert len(str(essence)) < 200


def test_the_diff_base_changes_with_spec_labels_and_annotations_only():
    base = storage().build(body=metric({"code": "a"}))
    assert storage().build(body=metric({"code": "a"}, status={"state": "Active"}, generation=9)) == base
    assert storage().build(body=metric({"code": "b"})) != base
    # The retry annotation users set after fixing something outside the resource is a change.
    assert storage().build(body=metric({"code": "a"}, annotations={"agreement.dev/retry": "1"})) != base
    ignored = {"kopf.agreement.dev/kopf-managed": "yes", "kopf.agreement.dev/reconcile_metric": "{}",
               "kubectl.kubernetes.io/last-applied-configuration": "{}"}
    assert storage().build(body=metric({"code": "a"}, annotations=ignored)) == base


def test_the_diff_base_ignores_kopfs_progress_annotation_alone():
    """What a create that had to retry carries: the progress annotation and none of kopf's markers.
    kopf recognises a storage prefix of its own only by such a marker, so this annotation once
    made the digest differ and cost every retried create an extra update pass."""
    base = storage().build(body=metric({"code": "a"}))
    retrying = {"kopf.agreement.dev/reconcile_metric": '{"retries": 1, "purpose": "create"}'}
    assert storage().build(body=metric({"code": "a"}, annotations=retrying)) == base
