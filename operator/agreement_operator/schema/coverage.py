"""Whether the CRD in a cluster can hold what this operator writes.

The apiserver prunes every field its CRD's structural schema does not declare: a status patch with
`status.usage` against a CRD without it answers 200, and the field is gone. So what matters is not
whether the two CRDs are equal but whether every field of ours is declared in the cluster's.
"""

import enum
from collections.abc import Mapping

from agreement_operator.schema import packaged

_KEEPS_UNKNOWN = "x-kubernetes-preserve-unknown-fields"


class Verdict(enum.Enum):
    CURRENT = "current"  # at least our revision, and it declares every field of ours
    OLDER = "older"  # a lower revision: ours should replace it
    LACKS_FIELDS = "lacks fields"  # not a lower revision, yet it would prune fields of ours (edited by hand?)
    ABSENT = "absent"  # no such CRD, or it does not serve our version


def verdict(cluster: Mapping | None, ours: Mapping) -> Verdict:
    if cluster is None or packaged.served_schema(cluster) is None:
        return Verdict.ABSENT
    if packaged.revision(cluster) < packaged.revision(ours):
        return Verdict.OLDER
    return Verdict.LACKS_FIELDS if missing_fields(cluster, ours) else Verdict.CURRENT


def missing_fields(cluster: Mapping, ours: Mapping) -> list[str]:
    """The fields of our CRD's served version that the cluster's would prune, as paths
    (`status.usage`, `status.tests.results[].error`, `spec.tags.*`); all of them when it does not serve it."""
    theirs, mine = packaged.served_schema(cluster), packaged.served_schema(ours)
    if mine is None:
        return []
    return _missing(theirs or {}, mine, "")


def _missing(theirs: Mapping, mine: Mapping, path: str) -> list[str]:
    if theirs.get(_KEEPS_UNKNOWN):
        return []  # the apiserver keeps whatever is under this field
    found: list[str] = []
    their_properties = theirs.get("properties") or {}
    for name, schema in (mine.get("properties") or {}).items():
        child = f"{path}.{name}" if path else name
        if name in their_properties:
            found += _missing(their_properties[name], schema, child)
        else:
            found.append(child)
    if isinstance(mine.get("items"), Mapping):
        found += _missing(theirs.get("items") or {}, mine["items"], f"{path}[]")
    if isinstance(mine.get("additionalProperties"), Mapping):
        their_values = theirs.get("additionalProperties")
        if isinstance(their_values, Mapping):
            found += _missing(their_values, mine["additionalProperties"], f"{path}.*")
        else:
            found.append(f"{path}.*")
    return found
