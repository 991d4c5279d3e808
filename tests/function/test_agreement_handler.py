"""The wrapper's return-value rules, called directly: no user code is involved."""

import math

import pytest

from agreement_operator.function.agreement_handler import MetricError, check_score


@pytest.mark.parametrize("value", [0, 1, 0.0, 1.0, 0.5, 3 / 7])
def test_numbers_in_the_unit_interval_are_scores(value):
    assert check_score(value, per_label=False) == float(value)


@pytest.mark.parametrize(("value", "words"), [
    (None, "returned None (does every path"),
    (True, "returned bool True"),
    (False, "returned bool False"),
    ("0.5", "returned str '0.5'"),
    ([0.5], "returned list [0.5]"),
    (1.5, "returned 1.5; expected a number in [0, 1]"),
    (-0.1, "returned -0.1"),
    (math.nan, "returned nan"),
    (math.inf, "returned inf"),
    ({"Positive": 1.0}, "returned dict"),
])
def test_anything_else_says_what_was_returned_and_what_was_expected(value, words):
    with pytest.raises(MetricError) as raised:
        check_score(value, per_label=False)
    assert words in raised.value.message
    assert "expected a number in [0, 1]" in raised.value.message
    assert raised.value.type_name == "InvalidReturnValue"


def test_per_label_mapping_of_labels_to_scores():
    assert check_score({"Positive": 1, "Negative": 0.25}, per_label=True) == {"Positive": 1.0, "Negative": 0.25}
    assert check_score({}, per_label=True) == {}


@pytest.mark.parametrize(("value", "words"), [
    (0.5, "with per_label=True, return a dict"),
    (None, "returned None"),
    ({1: 0.5}, "keys must be strings"),
    ({"Positive": 2}, "for label 'Positive'; expected a number in [0, 1]"),
    ({"Positive": None}, "for label 'Positive'; expected a number"),
])
def test_per_label_errors(value, words):
    with pytest.raises(MetricError) as raised:
        check_score(value, per_label=True)
    assert words in raised.value.message
