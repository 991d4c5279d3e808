"""The CRD this build ships (a copy of crds/agreementmetrics.yaml inside the package), and its stamps.

Two annotations on the CRD say which schema it is:
- `agreement.dev/schema-revision`: a whole number, raised by one with every change of the CRD's spec.
  The operator applies its own CRD only over a lower revision, so an older replica never puts an
  older schema back. A CRD without it (every release before 0.2.0) is revision 0.
- `agreement.dev/schema-digest`: the sha256 of the spec, which a test checks against the spec, so a
  change of the schema cannot ship with the old revision (scripts/stamp-crd sets both).
"""

import functools
import hashlib
import json
from collections.abc import Mapping
from importlib import resources

import yaml

from agreement_operator import crd

NAME = f"{crd.PLURAL}.{crd.GROUP}"
REVISION_ANNOTATION = f"{crd.GROUP}/schema-revision"
DIGEST_ANNOTATION = f"{crd.GROUP}/schema-digest"
_FILE = "agreementmetrics.yaml"


@functools.cache
def text() -> str:
    """The CRD as shipped, YAML."""
    return resources.files(__package__).joinpath(_FILE).read_text(encoding="utf-8")


def manifest() -> dict:
    """The CRD as shipped, a fresh copy each call."""
    return yaml.safe_load(text())


def revision(definition: Mapping) -> int:
    """The schema revision stamped on a CRD; 0 when it carries none (or one that is not a number)."""
    raw = ((definition.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION, "")
    return int(raw) if str(raw).isdigit() else 0


def digest(definition: Mapping) -> str:
    """The sha256 of a CRD's spec, key order and formatting aside."""
    canonical = json.dumps(definition.get("spec") or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def stamped_digest(definition: Mapping) -> str:
    return ((definition.get("metadata") or {}).get("annotations") or {}).get(DIGEST_ANNOTATION, "")


def served_schema(definition: Mapping, version: str = crd.VERSION) -> Mapping | None:
    """The openAPIV3Schema of `version`, or None when the CRD does not serve it."""
    for entry in (definition.get("spec") or {}).get("versions") or []:
        if entry.get("name") == version and entry.get("served"):
            return ((entry.get("schema") or {}).get("openAPIV3Schema")) or {}
    return None
