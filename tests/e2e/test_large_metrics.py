"""Every size the CRD accepts reaches Ready, whichever way kubectl sends it.

kopf used to keep the whole spec, JSON-escaped, in an annotation; with kubectl's own
last-applied copy beside it, large metrics broke the 256 KiB limit on annotations
after their function was created, and the resource never got a status.
"""

import json

import pytest

from agreement_operator.function import packaging

MAX_CODE = 262144
TAIL = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"


def metric_code(size: int, line: str) -> str:
    """`size` characters of valid code: comment lines of `line`, then the metric."""
    body = size - len(TAIL)
    lines, rest = divmod(body, len(line) + 1)
    return (line + "\n") * lines + "#" * max(rest - 1, 0) + ("\n" if rest else "") + TAIL


def manifest(name: str, namespace: str, code: str) -> str:
    return json.dumps({"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                       "metadata": {"name": name, "namespace": namespace}, "spec": {"code": code}})


@pytest.mark.parametrize(("how", "line"), [
    (["create"], '# "quoted" é'),  # the worst case for escaping: newlines, quotes, non-ASCII
    (["apply", "--server-side"], '# "quoted" é'),
])
def test_the_largest_metric_is_deployed(cluster, how, line):
    code = metric_code(MAX_CODE, line)
    assert len(code) == MAX_CODE
    name = f"largest-{how[-1].strip('-')}"
    cluster.kubectl(*how, "-f", "-", input=manifest(name, cluster.namespace, code))
    item = cluster.wait(name, timeout=90)
    assert item["status"]["codeSha256"] == packaging.code_sha256(packaging.build_zip(code))
    assert not [key for key in item["metadata"].get("annotations", {}) if "last-handled" in key and
                len(item["metadata"]["annotations"][key]) > 200]


def test_client_side_apply_carries_what_its_own_annotation_allows(cluster):
    # 147,684 ASCII characters with kubectl apply: the last-applied copy fits, and kopf adds little.
    code = metric_code(147_684, "# a comment line of plain ASCII text, as metrics have")
    cluster.kubectl("apply", "-f", "-", input=manifest("applied", cluster.namespace, code))
    assert cluster.wait("applied", timeout=90)["status"]["codeSha256"] == packaging.code_sha256(
        packaging.build_zip(code))
