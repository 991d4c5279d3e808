"""Lambda tags: the user's tags (spec.tags) checked, and the ownership tags that name the metric."""

from collections.abc import Mapping

from agreement_operator import crd
from agreement_operator.metric.owner import Owner

MAX_USER_TAGS = 40
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_TAG_PUNCTUATION = set("_.:/=+-@ ")
TAG_CLUSTER = f"{crd.GROUP}/cluster"
TAG_NAMESPACE = f"{crd.GROUP}/namespace"
TAG_NAME = f"{crd.GROUP}/name"
TAG_UID = f"{crd.GROUP}/uid"
TAG_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "agreement-operator"
_RESERVED_KEYS = {TAG_MANAGED_BY}


def ownership_tags(owner: Owner) -> dict[str, str]:
    return {
        TAG_CLUSTER: owner.cluster,
        TAG_NAMESPACE: owner.namespace,
        TAG_NAME: owner.name,
        TAG_UID: owner.uid,
        TAG_MANAGED_BY: MANAGED_BY,
    }


def desired_tags(user_tags: Mapping[str, str], owner: Owner) -> dict[str, str]:
    return {**user_tags, **ownership_tags(owner)}


def _outside_tag_alphabet(text: str) -> list[str]:
    return sorted({ch for ch in text if not (ch.isalnum() or ch in _TAG_PUNCTUATION)})


def user_tag_problems(tags: object) -> list[str]:
    """Everything wrong with `spec.tags`, each as a sentence that says what to change."""
    if tags is None:
        return []
    if not isinstance(tags, Mapping):
        return [f"spec.tags must be a map of string to string, not {type(tags).__name__}"]
    problems = []
    if len(tags) > MAX_USER_TAGS:
        problems.append(
            f"spec.tags has {len(tags)} tags; at most {MAX_USER_TAGS} are allowed "
            "(Lambda allows 50 and the operator needs 5 for ownership)"
        )
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(f"spec.tags[{key!r}]: keys and values must be strings; quote {value!r}")
            continue
        problems.extend(_key_problems(key))
        if len(value) > MAX_VALUE_LENGTH:
            problems.append(
                f"spec.tags[{key!r}]: value is {len(value)} characters; at most {MAX_VALUE_LENGTH} allowed"
            )
        if bad := _outside_tag_alphabet(value):
            problems.append(f"spec.tags[{key!r}]: value has characters Lambda rejects: {''.join(bad)!r}")
    return problems


def _key_problems(key: str) -> list[str]:
    if not key:
        return ["spec.tags: a tag key is empty; keys need 1 to 128 characters"]
    if len(key) > MAX_KEY_LENGTH:
        return [f"spec.tags[{key[:20]!r}...]: key is {len(key)} characters; at most {MAX_KEY_LENGTH} allowed"]
    if key.lower().startswith("aws:"):
        return [f"spec.tags[{key!r}]: keys starting with 'aws:' are reserved by AWS; rename the key"]
    if key.startswith(f"{crd.GROUP}/") or key in _RESERVED_KEYS:
        return [f"spec.tags[{key!r}]: this key is set by the operator to mark ownership; rename the key"]
    if bad := _outside_tag_alphabet(key):
        return [f"spec.tags[{key!r}]: key has characters Lambda rejects: {''.join(bad)!r}"]
    return []
