"""Who a metric is: the identity that ownership marks carry (Lambda tags, for one)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Owner:
    """The Kubernetes object a function belongs to."""

    cluster: str
    namespace: str
    name: str
    uid: str
