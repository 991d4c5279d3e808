"""What the CRD checks decide from what they read: when to apply the operator's CRD, and what they say.
The calls themselves run against a real apiserver in tests/e2e/test_crd_upkeep.py."""

from agreement_operator import failures
from agreement_operator.controller import crd_upkeep
from agreement_operator.schema import packaged
from agreement_operator.schema.coverage import Verdict


class Cluster:
    """The two calls the checks make, against a CRD held in memory."""

    def __init__(self, found: dict | None, may_apply: bool = True) -> None:
        self.found, self.may_apply, self.applied = found, may_apply, 0

    def read_crd(self, name: str) -> dict | None:
        assert name == packaged.NAME
        return self.found

    def apply_crd(self, manifest: dict) -> dict:
        if not self.may_apply:
            raise failures.PermanentFailure("Forbidden", "Kubernetes RBAC forbids the operator to apply it")
        self.applied += 1
        self.found = manifest
        return manifest


def at_revision(revision: int, drop: str | None = None) -> dict:
    definition = packaged.manifest()
    definition["metadata"]["annotations"][packaged.REVISION_ANNOTATION] = str(revision)
    if drop:
        del definition["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"][drop]
    return definition


OURS = packaged.revision(packaged.manifest())


def test_an_older_crd_is_replaced_by_ours_and_then_current():
    cluster = Cluster(at_revision(OURS - 1, drop="usage"))
    upkeep = crd_upkeep.CrdUpkeep(cluster, manage=True)
    assert (upkeep.check(), upkeep.problem, cluster.applied) == (Verdict.CURRENT, None, 1)


def test_a_newer_crd_is_never_replaced_even_when_it_lacks_a_field_of_ours():
    newer = Cluster(at_revision(OURS + 1))
    assert (crd_upkeep.CrdUpkeep(newer, manage=True).check(), newer.applied) == (Verdict.CURRENT, 0)
    # A newer release that removed a field of ours broke the policy: this operator must not run on it.
    broken = Cluster(at_revision(OURS + 1, drop="usage"))
    upkeep = crd_upkeep.CrdUpkeep(broken, manage=True)
    assert (upkeep.check(), broken.applied) == (Verdict.LACKS_FIELDS, 0)
    assert f"is schema revision {OURS + 1}, newer than this operator's {OURS}, and would prune status.usage" \
        in upkeep.problem


def test_our_revision_edited_by_hand_is_applied_again():
    cluster = Cluster(at_revision(OURS, drop="functionErrors"))
    assert (crd_upkeep.CrdUpkeep(cluster, manage=True).check(), cluster.applied) == (Verdict.CURRENT, 1)


def test_told_not_to_manage_it_the_operator_only_says_what_to_run():
    cluster = Cluster(at_revision(0, drop="usage"))
    upkeep = crd_upkeep.CrdUpkeep(cluster, manage=False)
    assert (upkeep.check(), cluster.applied) == (Verdict.OLDER, 0)
    assert upkeep.problem.startswith(f"CRD {packaged.NAME} is schema revision 0 and this operator needs {OURS}; "
                                     "it would prune status.usage; the operator does not update it")
    assert "agreement-operator crd | kubectl apply --server-side --force-conflicts -f -" in upkeep.problem


def test_without_rbac_to_apply_it_the_problem_names_the_refusal():
    upkeep = crd_upkeep.CrdUpkeep(Cluster(at_revision(0), may_apply=False), manage=True)
    assert upkeep.check() is Verdict.OLDER
    assert "may not update it (Kubernetes RBAC forbids the operator to apply it)" in upkeep.problem


def test_no_crd_is_a_problem_and_is_never_created():
    cluster = Cluster(None)
    upkeep = crd_upkeep.CrdUpkeep(cluster, manage=True)
    assert (upkeep.check(), cluster.applied) == (Verdict.ABSENT, 0)
    assert "does not exist" in upkeep.problem


def test_a_crd_being_deleted_is_noticed():
    terminating = packaged.manifest()
    terminating["metadata"]["deletionTimestamp"] = "2026-12-06T12:00:00Z"
    upkeep = crd_upkeep.CrdUpkeep(Cluster(terminating), manage=True)
    assert upkeep.check() is Verdict.CURRENT and upkeep.terminating
