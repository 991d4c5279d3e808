"""Which of our fields a cluster's CRD would prune, and the verdict the operator acts on."""

import copy

from agreement_operator.schema import coverage, packaged
from agreement_operator.schema.coverage import Verdict


def ours() -> dict:
    return packaged.manifest()


def status_schema(definition: dict) -> dict:
    return definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]


def with_revision(definition: dict, revision: int) -> dict:
    definition["metadata"]["annotations"][packaged.REVISION_ANNOTATION] = str(revision)
    return definition


def test_our_own_crd_is_current_and_lacks_nothing():
    assert coverage.missing_fields(ours(), ours()) == []
    assert coverage.verdict(ours(), ours()) is Verdict.CURRENT


def test_a_missing_status_field_is_named_with_its_path():
    theirs = ours()
    del status_schema(theirs)["properties"]["usage"]
    del status_schema(theirs)["properties"]["tests"]["properties"]["results"]["items"]["properties"]["error"]
    assert coverage.missing_fields(theirs, ours()) == ["status.tests.results[].error", "status.usage"]


def test_fields_under_a_map_are_checked_through_its_values():
    mine = ours()
    status_schema(mine)["properties"]["byLabel"] = {
        "type": "object", "additionalProperties": {"type": "object", "properties": {"score": {"type": "number"}}}}
    theirs = copy.deepcopy(mine)
    del status_schema(theirs)["properties"]["byLabel"]["additionalProperties"]["properties"]["score"]
    assert coverage.missing_fields(theirs, mine) == ["status.byLabel.*.score"]
    status_schema(theirs)["properties"]["byLabel"] = {"type": "object"}
    assert coverage.missing_fields(theirs, mine) == ["status.byLabel.*"]


def test_a_field_that_keeps_unknown_fields_prunes_nothing_under_it():
    theirs = ours()
    status_schema(theirs).clear()
    status_schema(theirs).update({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
    assert coverage.missing_fields(theirs, ours()) == []


def test_an_older_revision_is_older_even_when_it_declares_every_field():
    assert coverage.verdict(with_revision(ours(), 0), ours()) is Verdict.OLDER


def test_a_newer_revision_is_current_and_is_never_replaced():
    newer = with_revision(ours(), packaged.revision(ours()) + 1)
    status_schema(newer)["properties"]["fromTheFuture"] = {"type": "string"}
    assert coverage.verdict(newer, ours()) is Verdict.CURRENT


def test_a_crd_edited_by_hand_at_our_revision_that_lacks_a_field_is_caught():
    edited = ours()
    del status_schema(edited)["properties"]["functionErrors"]
    assert coverage.verdict(edited, ours()) is Verdict.LACKS_FIELDS


def test_no_crd_or_one_that_does_not_serve_our_version_is_absent():
    assert coverage.verdict(None, ours()) is Verdict.ABSENT
    unserved = ours()
    unserved["spec"]["versions"][0]["served"] = False
    assert coverage.verdict(unserved, ours()) is Verdict.ABSENT
