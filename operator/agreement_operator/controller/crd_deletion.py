"""Metrics let go while their CRD is being deleted.

Deleting the CRD deletes every AgreementMetric: the apiserver marks each for deletion, and the CRD goes only
once their finalizers are gone. But while the CRD is terminating, the apiserver no longer lists its resource as
patchable, and kopf stops serving it ("Non-patchable resources will not be served"): no finalizer would ever be
removed, every metric would hang in Terminating, the CRD with them, and no function would be deleted. So the
operator's CRD checks (controller/crd_upkeep.py) call `finish_deletions` while the CRD is terminating: each
metric marked for deletion is deleted as kopf's delete handler would (its function deleted, or kept under
deletionPolicy: Retain), then its finalizer removed.
"""

import logging

import kopf

from agreement_operator import crd, failures
from agreement_operator.controller import handlers

logger = logging.getLogger(__name__)


def finish_deletions(memo: kopf.Memo) -> int:
    """One round over the metrics marked for deletion; how many were let go. A metric whose deletion must wait
    (AWS refused, the quota's turn) is left for the next round."""
    outside_kopf = kopf.Memo({**memo, "post_event": memo.post_event_outside_kopf})
    released = 0
    for found in memo.kube.list_metrics(memo.config.namespaces):
        finalizers = list(found["metadata"].get("finalizers") or [])
        if not found["metadata"].get("deletionTimestamp") or crd.FINALIZER not in finalizers:
            continue
        body = kopf.Body(found)
        try:
            handlers.delete_metric(body=body, spec=body.spec, meta=body.meta, status=body.status, memo=outside_kopf)
            memo.kube.set_finalizers(found, [name for name in finalizers if name != crd.FINALIZER])
        except (kopf.TemporaryError, failures.ReconcileFailure) as waiting:
            logger.info("[%s/%s] deleted with its CRD, once this passes: %s", body.meta["namespace"],
                        body.meta["name"], waiting)
            continue
        logger.info("[%s/%s] deleted with its CRD", body.meta["namespace"], body.meta["name"])
        released += 1
    return released


def watch_for_crd_deletion(memo: kopf.Memo, **_) -> None:
    """Startup: the CRD checks finish the deletions kopf no longer serves."""
    memo.crd_upkeep.on_terminating = lambda: finish_deletions(memo)
