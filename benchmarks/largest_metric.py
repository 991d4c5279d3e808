"""The largest metric code each way of sending it to the apiserver carries, in the local sandbox.

    .venv/bin/python benchmarks/largest_metric.py

For plain ASCII code and for the worst case for escaping (short lines with quotes and
non-ASCII characters), bisects the largest `spec.code` that `kubectl create`,
`kubectl apply --server-side` and `kubectl apply` (client-side, which copies the whole
object into the last-applied-configuration annotation) accept, with a server-side dry
run. The CRD's own bound is 262,144 characters. The operator adds only a short digest
annotation, so what the apiserver accepts is what deploys.
"""

import json

from agreement_operator.sandbox.session import sandbox

MAX_CODE = 262144
TAIL = "def agreement(annotation_1, annotation_2, per_label=False):\n    return 1.0\n"
SHAPES = {"plain ASCII": "# a comment line of plain ASCII text, as metrics have", "quotes and é": '# "é"'}
METHODS = {"kubectl create": ["create"], "kubectl apply --server-side": ["apply", "--server-side"],
           "kubectl apply": ["apply"]}


def code_of(size: int, line: str) -> str:
    lines, rest = divmod(size - len(TAIL), len(line) + 1)
    return (line + "\n") * lines + "#" * max(rest - 1, 0) + ("\n" if rest else "") + TAIL


def accepted(box, how: list[str], code: str) -> bool:
    manifest = {"apiVersion": "agreement.dev/v1alpha1", "kind": "AgreementMetric",
                "metadata": {"name": "largest", "namespace": "default"}, "spec": {"code": code}}
    result = box.control_plane.kubectl(*how, "--dry-run=server", "-f", "-", input=json.dumps(manifest), check=False)
    return result.returncode == 0


def largest(box, how: list[str], line: str) -> int:
    low, high = len(TAIL), MAX_CODE
    if accepted(box, how, code_of(high, line)):
        return high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if accepted(box, how, code_of(middle, line)) else (low, middle)
    return low


def main() -> None:
    with sandbox(with_operator=False) as box:
        print(f"{'method':30} " + " ".join(f"{shape:>14}" for shape in SHAPES))
        for method, how in METHODS.items():
            sizes = [largest(box, how, line) for line in SHAPES.values()]
            print(f"{method:30} " + " ".join(f"{size:>14,}" for size in sizes))


if __name__ == "__main__":
    main()
