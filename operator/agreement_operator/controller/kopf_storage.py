"""Where kopf keeps its bookkeeping on each metric: small annotations under kopf.agreement.dev/.

kopf stores the last handled spec in an annotation to tell real changes from its own
writes. A whole spec can hold 262,144 characters of code, JSON-escaped into that
annotation (2-6x for newlines, quotes and non-ASCII) beside kubectl's last-applied copy,
against Kubernetes' 256 KiB limit on all annotations of an object. The operator never
reads the old spec (each reconcile reads the whole current one), so a digest of it
tells kopf all it needs: whether anything changed.
"""

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import kopf

from agreement_operator import crd


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base as the sha256 of what it would have stored: about 100 bytes for any spec."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        # kopf drops its own annotations only under prefixes it knows, or once it sees one of its
        # markers under ours: a create that had to retry carries just its progress annotation,
        # which would make the next event look like a change of the spec.
        annotations = essence.get("metadata", {}).get("annotations", {})
        for key in [key for key in annotations if key.startswith(f"{crd.KOPF_STORAGE_PREFIX}/")]:
            del annotations[key]
        self.remove_empty_stanzas(essence)
        text = json.dumps(essence, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        return kopf.BodyEssence(spec={"sha256": digest})


def configure(settings: kopf.OperatorSettings) -> None:
    # Our own domain instead of kopf.zalando.org, so the resource says who holds it.
    settings.persistence.finalizer = crd.FINALIZER
    # kopf's bookkeeping in annotations keeps status for what users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=crd.KOPF_STORAGE_PREFIX)
    # A digest, not the spec: every spec the CRD accepts fits the annotation limit.
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(
        prefix=crd.KOPF_STORAGE_PREFIX, key="last-handled-configuration",
    )
