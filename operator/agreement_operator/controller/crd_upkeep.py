"""The AgreementMetric CRD kept at least at this build's revision, and the operator kept off a CRD that would
prune what it writes.

At start the operator reads the cluster's CRD before it handles any metric. A lower schema revision (or, at
ours, a CRD that lacks fields of ours) is replaced by the CRD this build ships, with server-side apply, unless
AGREEMENT_OPERATOR_MANAGE_CRD=false. A CRD it cannot bring up to date keeps it waiting: one line says which
CRD and how to update it, /readyz answers 503, and nothing is written to a metric. After start the CRD is read
again every CHECK_SECONDS, and at once when a status write comes back pruned (`status_writer`): a CRD made
older while the operator runs is applied again, or, when it cannot be, the operator stops with that line, and
its successor waits at start. A newer revision is never touched: an older replica in a rolling upgrade does not
put an older schema back. A CRD being deleted has its metrics' deletions finished by these checks
(controller/crd_deletion.py: kopf stops serving them then); a CRD that is gone makes the operator not ready
until it is back; it never creates one.
"""

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping

from agreement_operator import crd, failures
from agreement_operator.controller import kube
from agreement_operator.schema import coverage, packaged
from agreement_operator.schema.coverage import Verdict
from agreement_operator.target import Event

logger = logging.getLogger(__name__)
CHECK_SECONDS = 10.0
TERMINATING_CHECK_SECONDS = 2.0  # while the CRD is being deleted, its metrics wait for these checks
FIX = ("update it: `agreement-operator crd | kubectl apply --server-side --force-conflicts -f -` (or `kubectl "
       "apply --server-side --force-conflicts -f crds/agreementmetrics.yaml` of this release), or let the operator "
       "do it (Helm crds.manage=true, AGREEMENT_OPERATOR_MANAGE_CRD=true)")


class CrdUpkeep:
    """Whether the cluster's CRD can hold what this operator writes (`problem` is None then), kept so."""

    def __init__(self, api: kube.KubeAPI, manage: bool, ours: Mapping | None = None) -> None:
        self.api, self.manage = api, manage
        self.ours = ours if ours is not None else packaged.manifest()
        self.problem: str | None = "the CRD has not been read yet"
        self.verdict: Verdict | None = None
        self.stopped_operator = False  # the operator was stopped because its CRD went out of date
        self.terminating = False  # the CRD is being deleted (with every metric)
        # Called each check while it is: kopf no longer serves the metrics then (controller/crd_deletion.py).
        self.on_terminating: Callable[[], object] | None = None
        self._poke: Callable[[], None] = lambda: None

    def check(self) -> Verdict | None:
        """Read the CRD, apply ours when it is older (and we may), and record what stands in the way.
        None: it could not be read or applied this time (the apiserver is unreachable, say)."""
        try:
            found = self.api.read_crd(packaged.NAME)
        except failures.PermanentFailure as refused:  # RBAC: kopf's own list of CRDs is refused as well
            return self._record(None, f"cannot read CRD {packaged.NAME}: {refused.message}")
        except failures.ReconcileFailure as failure:
            logger.warning("could not read CRD %s: %s", packaged.NAME, failure.message)
            return None
        self.terminating = bool(found and found["metadata"].get("deletionTimestamp"))
        verdict = coverage.verdict(found, self.ours)
        if self._should_apply(found, verdict):
            logger.info("CRD %s is schema revision %d, older than this operator's %d: applying this operator's",
                        packaged.NAME, packaged.revision(found or {}), packaged.revision(self.ours))
            try:
                found = self.api.apply_crd(self.ours)
            except failures.PermanentFailure as refused:  # RBAC: say what to grant, and how to update it by hand
                return self._record(Verdict.OLDER, f"CRD {packaged.NAME} is older than this operator, which may "
                                    f"not update it ({refused.message}); {FIX}")
            except failures.ReconcileFailure as failure:
                logger.warning("could not apply CRD %s: %s", packaged.NAME, failure.message)
                return None
            verdict = coverage.verdict(found, self.ours)
        return self._record(verdict, self._describe(found, verdict))

    def _should_apply(self, found: Mapping | None, verdict: Verdict) -> bool:
        at_our_revision = found is not None and packaged.revision(found) == packaged.revision(self.ours)
        return self.manage and (verdict is Verdict.OLDER or (verdict is Verdict.LACKS_FIELDS and at_our_revision))

    def _describe(self, found: Mapping | None, verdict: Verdict) -> str | None:
        if verdict is Verdict.CURRENT:
            return None
        if verdict is Verdict.ABSENT:
            return (f"CRD {packaged.NAME} does not exist (or does not serve {crd.VERSION}); create it: "
                    "`agreement-operator crd | kubectl apply --server-side -f -`")
        lacking = coverage.missing_fields(found or {}, self.ours)
        shown = ", ".join(lacking[:5]) + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
        theirs, mine = packaged.revision(found or {}), packaged.revision(self.ours)
        if theirs > mine:  # a newer release that dropped a field of ours: updating is not ours to do
            return (f"CRD {packaged.NAME} is schema revision {theirs}, newer than this operator's {mine}, and would "
                    f"prune {shown}; run the operator release that matches it")
        return (f"CRD {packaged.NAME} is schema revision {theirs} and this operator needs {mine}" +
                (f"; it would prune {shown}" if lacking else "") +
                ("" if self.manage else "; the operator does not update it (AGREEMENT_OPERATOR_MANAGE_CRD=false)") +
                f"; {FIX}")

    def _record(self, verdict: Verdict | None, problem: str | None) -> Verdict | None:
        if problem != self.problem:
            if problem is None:
                logger.info("CRD %s is current (schema revision %d)", packaged.NAME,
                            packaged.revision(self.ours))
            else:
                logger.error("%s", problem)
        self.verdict, self.problem = verdict, problem
        return verdict

    async def wait_until_current(self) -> None:
        """At start: back every CHECK_SECONDS until the CRD can hold what the operator writes."""
        while await asyncio.to_thread(self.check) is not Verdict.CURRENT:
            await asyncio.sleep(CHECK_SECONDS)

    async def keep_current(self, stop_operator: Callable[[], None]) -> None:
        """While the operator runs: check every CHECK_SECONDS, or at once when poked; stop the operator when
        the CRD became too old and cannot be updated."""
        poked = asyncio.Event()
        loop = asyncio.get_running_loop()

        def poke() -> None:
            loop.call_soon_threadsafe(poked.set)
        self._poke = poke
        while True:
            try:
                await asyncio.wait_for(poked.wait(), TERMINATING_CHECK_SECONDS if self.terminating else CHECK_SECONDS)
            except TimeoutError:
                pass
            poked.clear()
            verdict = await asyncio.to_thread(self.check)
            if self.terminating and self.on_terminating is not None:
                await asyncio.to_thread(self.on_terminating)
            if verdict in (Verdict.OLDER, Verdict.LACKS_FIELDS):
                logger.error("stopping: the operator must not write to metrics through CRD %s; a new process waits "
                             "until it is updated", packaged.NAME)
                self.stopped_operator = True
                stop_operator()
                return

    def check_soon(self) -> None:
        """Check the CRD now rather than at the next tick (from any thread)."""
        self._poke()


def status_writer(api: kube.KubeAPI, upkeep: CrdUpkeep,
                  post_event: Callable[[Mapping, Event], None]) -> Callable[..., str | None]:
    """memo.write_status: kube.patch_status (which answers the metric's new resourceVersion), and when the answer
    lacks a field that was sent, an error line naming the fields and the CRD, one StatusFieldPruned Warning Event
    per metric, and a check of the CRD."""
    warned: set[str] = set()
    guard = threading.Lock()

    def write(namespace: str, name: str, fields: dict, resource_version: str | None = None) -> str | None:
        try:
            return api.patch_status(namespace, name, fields, resource_version)
        except failures.FieldsPruned as pruned:
            logger.error("[%s/%s] %s (CRD %s); %s", namespace, name, pruned.message, packaged.NAME, FIX)
            uid = (pruned.answer.get("metadata") or {}).get("uid", f"{namespace}/{name}")
            with guard:
                first = uid not in warned
                warned.add(uid)
            if first:
                post_event(pruned.answer, Event(pruned.reason, f"{pruned.message}; CRD {packaged.NAME} is older "
                                                "than the operator, which checks it now", warning=True))
            upkeep.check_soon()
            raise
    return write
