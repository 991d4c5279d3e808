"""What a new CRD takes away from an older one: each kind of narrowing is found, and growth is not."""

import copy

import pytest

from agreement_operator.schema import additive, packaged


def spec_schema(definition: dict) -> dict:
    return definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def changed(edit) -> list[str]:
    old = packaged.manifest()
    new = copy.deepcopy(old)
    edit(new)
    return additive.narrowings(old, new)


def test_the_same_crd_narrows_nothing():
    assert changed(lambda new: None) == []


def test_growth_is_not_narrowing():
    def grow(new):
        properties = spec_schema(new)["properties"]
        properties["newField"] = {"type": "string", "maxLength": 5}
        properties["memoryMB"]["maximum"] += 1
        properties["memoryMB"]["minimum"] -= 1
        properties["deletionPolicy"]["enum"].append("Orphan")
        spec_schema(new)["x-kubernetes-validations"].pop()
    assert changed(grow) == []


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda s: s["properties"].pop("prefix"), "v1alpha1: spec.prefix: removed"),
    (lambda s: s["properties"]["memoryMB"].update(type="string"),
     "v1alpha1: spec.memoryMB: type 'integer' -> 'string'"),
    (lambda s: s["properties"]["memoryMB"].update(maximum=4096), "v1alpha1: spec.memoryMB: maximum 10240 -> 4096"),
    (lambda s: s["properties"]["timeoutSeconds"].update(minimum=5), "v1alpha1: spec.timeoutSeconds: minimum 1 -> 5"),
    (lambda s: s["properties"]["code"].update(maxLength=1000), "v1alpha1: spec.code: maxLength 262144 -> 1000"),
    (lambda s: s["properties"]["description"].update(pattern="^[a-z]*$"),
     "v1alpha1: spec.description: pattern 'none' -> '^[a-z]*$'"),
    (lambda s: s["properties"]["deletionPolicy"].update(enum=["Delete"]),
     "v1alpha1: spec.deletionPolicy: enum no longer allows ['Retain']"),
    (lambda s: s["properties"]["description"].update(enum=["x"]), "v1alpha1: spec.description: enum added"),
    (lambda s: s.setdefault("required", []).append("prefix"), "v1alpha1: spec: now requires ['prefix']"),
    (lambda s: s["x-kubernetes-validations"].append({"rule": "size(self.code) < 10", "message": "short"}),
     "v1alpha1: spec: new rule 'size(self.code) < 10'"),
    (lambda s: s["properties"]["tags"].update(additionalProperties=False),
     "v1alpha1: spec.tags: additional properties no longer allowed"),
])
def test_each_narrowing_is_named(edit, expected):
    assert expected in changed(lambda new: edit(spec_schema(new)))


def test_a_version_no_longer_served_and_a_renamed_kind_are_narrowing():
    def rename(new):
        new["spec"]["versions"][0]["served"] = False
        new["spec"]["names"]["kind"] = "Metric"
    found = changed(rename)
    assert "version v1alpha1: no longer served" in found
    assert "spec.names.kind: 'AgreementMetric' -> 'Metric'" in found
