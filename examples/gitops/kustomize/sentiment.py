"""Sentiment agreement: exact match of the chosen labels of the `sentiment` Choices control.

A real Python file in Git; kustomize's configMapGenerator puts it into a ConfigMap and
the AgreementMetric reads it through spec.codeFrom.
"""


def choices(annotation, from_name="sentiment"):
    return {
        choice
        for item in annotation.get("result", [])
        if item.get("type") == "choices" and item.get("from_name") == from_name
        for choice in item["value"]["choices"]
    }


def agreement(annotation_1, annotation_2, per_label=False):
    first, second = choices(annotation_1), choices(annotation_2)
    if per_label:
        return {label: float(label in first and label in second) for label in first | second}
    if not first and not second:
        return 1.0
    return float(first == second)
