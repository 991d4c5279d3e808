import pytest

from agreement_operator.metric.owner import Owner
from agreement_operator.metric.tags import desired_tags, user_tag_problems

OWNER = Owner(cluster="c1", namespace="labeling", name="sentiment", uid="u1")


def test_desired_tags_are_the_users_plus_ownership():
    assert desired_tags({"team": "nlp", "cost-center": "42"}, OWNER) == {
        "team": "nlp",
        "cost-center": "42",
        "agreement.dev/cluster": "c1",
        "agreement.dev/namespace": "labeling",
        "agreement.dev/name": "sentiment",
        "agreement.dev/uid": "u1",
        "app.kubernetes.io/managed-by": "agreement-operator",
    }


def test_ownership_tags_win_over_a_user_tag_of_the_same_key():
    assert desired_tags({"agreement.dev/name": "spoof"}, OWNER)["agreement.dev/name"] == "sentiment"


def test_good_tags_have_no_problems():
    tags = {f"key-{i}": f"value {i}" for i in range(40)}
    tags["k"] = ""
    tags.pop("key-0")
    assert user_tag_problems(tags) == []
    assert user_tag_problems(None) == []


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        ({"aws:createdBy": "me"}, "reserved by AWS"),
        ({"AWS:x": "me"}, "reserved by AWS"),
        ({"agreement.dev/owner": "me"}, "set by the operator"),
        ({"app.kubernetes.io/managed-by": "helm"}, "set by the operator"),
        ({"k" * 129: "v"}, "at most 128"),
        ({"": "v"}, "empty"),
        ({"team": "v" * 257}, "at most 256"),
        ({"team": "a;b"}, "characters Lambda rejects"),
        ({"bad#key": "v"}, "characters Lambda rejects"),
        ({f"k{i}": "v" for i in range(41)}, "at most 40"),
        ({"team": 7}, "must be strings"),
        (["team"], "must be a map"),
    ],
)
def test_bad_tags_are_rejected_with_what_to_change(tags, words):
    problems = user_tag_problems(tags)
    assert problems and any(words in problem for problem in problems), problems
