import hashlib

import pytest

from agreement_operator.metric.naming import function_name, prefix_problem


def test_parts_are_joined_after_custom_metric():
    assert function_name("nlp", "labeling", "sentiment") == "custom-metric-nlp-labeling-sentiment"


@pytest.mark.parametrize("prefix", [None, ""])
def test_empty_prefix_is_left_out(prefix):
    assert function_name(prefix, "labeling", "sentiment") == "custom-metric-labeling-sentiment"


def test_characters_outside_the_lambda_alphabet_become_hyphens():
    assert function_name("team.nlp", "ml.prod", "iou.v2") == "custom-metric-team-nlp-ml-prod-iou-v2"


def test_a_name_of_exactly_64_characters_is_kept():
    name = "n" * (64 - len("custom-metric-labeling-"))
    result = function_name(None, "labeling", name)
    assert len(result) == 64 and result.endswith(name)


def test_a_longer_name_is_cut_to_55_plus_a_hash_of_the_whole_name():
    name = "a-very-long-metric-name-that-goes-on-and-on-and-on"
    full = f"custom-metric-nlp-labeling-{name}"
    result = function_name("nlp", "labeling", name)
    assert len(full) > 64
    assert len(result) == 64
    assert result == full[:55] + "-" + hashlib.sha256(full.encode()).hexdigest()[:8]


def test_long_names_that_share_the_first_55_characters_stay_distinct():
    base = "x" * 60
    assert function_name(None, "ns", base + "a") != function_name(None, "ns", base + "b")


def test_the_hash_is_of_the_sanitized_name():
    full = "custom-metric-" + "-".join(["p", "ns", "m" * 60])
    assert function_name("p", "ns", "m" * 60).endswith(hashlib.sha256(full.encode()).hexdigest()[:8])


@pytest.mark.parametrize("prefix", [None, "", "nlp", "team.nlp", "A_1-b", "x" * 40])
def test_valid_prefixes(prefix):
    assert prefix_problem(prefix) is None


@pytest.mark.parametrize(
    ("prefix", "words"),
    [
        ("x" * 41, "at most 40"),
        ("has space", "cannot form a Lambda function name"),
        ("-leading", "starting and ending"),
        ("trailing_", "starting and ending"),
        ("émoji", "cannot form"),
        ("a/b", "cannot form"),
    ],
)
def test_prefixes_that_make_an_invalid_name_are_explained(prefix, words):
    assert words in prefix_problem(prefix)
