"""Whose a function is, judged by its tags."""

import pytest

from agreement_operator.lambda_target.ownership import Ownership, ownership
from agreement_operator.metric.owner import Owner
from agreement_operator.metric.tags import ownership_tags

OWNER = Owner(cluster="c1", namespace="labeling", name="sentiment", uid="u1")


def test_function_of_the_same_resource_is_ours_even_with_a_new_uid():
    tags = ownership_tags(Owner("c1", "labeling", "sentiment", "old-uid"))
    assert ownership(tags, OWNER) is Ownership.OURS


@pytest.mark.parametrize("other", [
    Owner("c2", "labeling", "sentiment", "u1"),
    Owner("c1", "other-ns", "sentiment", "u1"),
    Owner("c1", "labeling", "other", "u1"),
])
def test_function_of_another_cluster_namespace_or_name_is_elsewhere(other):
    assert ownership(ownership_tags(other), OWNER) is Ownership.ELSEWHERE


def test_untagged_function_is_unmanaged():
    assert ownership({"team": "nlp"}, OWNER) is Ownership.UNMANAGED
