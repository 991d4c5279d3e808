"""Whether this replica is the active one of its kopf peering, for the work the operator runs
outside kopf's handlers (controller/periodic.py).

kopf pauses every handler of a replica that sees another live peer of a higher priority, or of
the same one, in the peering object's status (identity -> priority, lifetime, lastseen). That
pause is kopf's own and it tells no one, so this reads the same object and applies the same
rule. Without a peering name the operator runs standalone, and is always active.
"""

import datetime
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

PeeringReader = Callable[[str | None, str], Mapping | None]


@dataclass(frozen=True)
class Peering:
    """This replica in a kopf peering. `namespaces`: () for the cluster-wide ClusterKopfPeering, else a
    KopfPeering of that name in each namespace."""

    name: str
    identity: str
    priority: int
    namespaces: tuple[str, ...] = ()


class ActiveReplica:
    def __init__(self, peering: Peering | None, read_status: PeeringReader,
                 now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)) -> None:
        self.peering, self._read_status, self._now = peering, read_status, now
        self._last: tuple[float, bool] | None = None  # (time.monotonic() of the read, its answer)

    def active(self, max_age: float = 0.0) -> bool:
        """Whether kopf runs this replica's handlers now; a peering object that is missing pauses kopf too.
        `max_age`: an answer read at most that many seconds ago will do (the queued passes of a burst, which
        would otherwise read the peering object once each)."""
        if self.peering is None:
            return True
        now = time.monotonic()
        if self._last is not None and now - self._last[0] <= max_age:
            return self._last[1]
        answer = self._read_active()
        self._last = (now, answer)
        return answer

    def _read_active(self) -> bool:
        assert self.peering is not None
        for namespace in self.peering.namespaces or (None,):
            peers = self._read_status(namespace, self.peering.name)
            if peers is None or any(self._outranks(identity, peer) for identity, peer in peers.items()):
                return False
        return True

    def _outranks(self, identity: str, peer: Mapping) -> bool:
        assert self.peering is not None
        if identity == self.peering.identity or not isinstance(peer, Mapping):
            return False
        lastseen = peer.get("lastseen")
        if lastseen is not None:
            seen = datetime.datetime.fromisoformat(lastseen)
            if seen.tzinfo is None:
                seen = seen.replace(tzinfo=datetime.UTC)
            if seen + datetime.timedelta(seconds=int(peer.get("lifetime", 60))) <= self._now():
                return False  # dead: kopf ignores it (and cleans it up)
        return int(peer.get("priority", 0)) >= self.peering.priority
