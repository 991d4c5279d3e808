"""spec.codeFrom.configMapKeyRef against the real apiserver: deploy, follow changes, wait for it to appear."""

import json
import time

from agreement_operator.function import packaging

CODE = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
SPEC = {"codeFrom": {"configMapKeyRef": {"name": "metric-code", "key": "metric.py"}}}


def put_configmap(cluster, data, labels=None):
    labels = {"agreement.dev/metric-code": "true"} if labels is None else labels
    manifest = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "metric-code", "namespace": cluster.namespace, "labels": labels}, "data": data}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(manifest))


def sha(code):
    return packaging.code_sha256(packaging.build_zip(code))


def test_code_from_a_configmap_is_deployed_and_follows_its_changes(cluster):
    put_configmap(cluster, {"metric.py": CODE})
    cluster.apply("from-cm", SPEC)
    item = cluster.wait("from-cm")
    assert item["status"]["codeSha256"] == sha(CODE)

    changed = CODE.replace("1.0", "0.5")
    started = time.monotonic()
    put_configmap(cluster, {"metric.py": changed})
    cluster.eventually(lambda: cluster.get("from-cm")["status"].get("codeSha256") == sha(changed), 30,
                       "the ConfigMap change to be deployed")
    print(f"ConfigMap change deployed after {time.monotonic() - started:.1f} s")
    assert cluster.function(item["status"]["functionName"])["CodeSha256"] == sha(changed)


def test_missing_configmap_is_stalled_and_recovers_when_it_appears(cluster):
    cluster.apply("waits", SPEC)
    stalled = cluster.condition(cluster.wait("waits", condition="Stalled"), "Stalled")
    assert stalled["reason"] == "ConfigMapNotFound"
    assert f"ConfigMap {cluster.namespace}/metric-code" in stalled["message"]

    put_configmap(cluster, {"other.py": CODE})
    cluster.eventually(lambda: cluster.condition(cluster.get("waits"), "Stalled")["reason"] == "ConfigMapKeyNotFound",
                       30, "the missing key to be reported")
    put_configmap(cluster, {"other.py": CODE, "metric.py": CODE})
    assert cluster.wait("waits")["status"]["codeSha256"] == sha(CODE)


def test_an_unlabelled_configmap_is_stalled_until_labelled(cluster):
    put_configmap(cluster, {"metric.py": CODE}, labels={})
    cluster.apply("unlabelled", SPEC)
    stalled = cluster.condition(cluster.wait("unlabelled", condition="Stalled"), "Stalled")
    assert stalled["reason"] == "ConfigMapNotLabeled"
    assert "agreement.dev/metric-code=true" in stalled["message"]
    put_configmap(cluster, {"metric.py": CODE})  # the label brings it into the operator's watch
    cluster.wait("unlabelled")
