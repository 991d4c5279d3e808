"""Whether this replica is the active one: kopf's own rule, applied to the peering object's status."""

import datetime

from agreement_operator.controller.peering import ActiveReplica, Peering

NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.UTC)
ME = Peering("agreement-operator", "pod-a/1234", priority=500)


def peer(priority: int, seen_ago: float = 5.0, lifetime: int = 60) -> dict:
    return {"priority": priority, "lifetime": lifetime,
            "lastseen": (NOW - datetime.timedelta(seconds=seen_ago)).isoformat()}


def replica(statuses: dict, peering: Peering | None = ME) -> tuple[ActiveReplica, list]:
    asked: list = []

    def read(namespace, name):
        asked.append((namespace, name))
        return statuses.get(namespace)

    return ActiveReplica(peering, read, now=lambda: NOW), asked


def test_standalone_is_always_active_and_reads_nothing():
    active, asked = replica({}, peering=None)
    assert active.active() and asked == []


def test_a_live_peer_of_a_higher_or_the_same_priority_pauses_this_one():
    assert replica({None: {ME.identity: peer(500), "pod-b": peer(100)}})[0].active()
    assert not replica({None: {ME.identity: peer(500), "pod-b": peer(900)}})[0].active()
    assert not replica({None: {ME.identity: peer(500), "pod-b": peer(500)}})[0].active()  # kopf pauses both


def test_a_dead_peer_counts_for_nothing():
    assert replica({None: {"pod-b": peer(900, seen_ago=61)}})[0].active()
    assert not replica({None: {"pod-b": peer(900, seen_ago=59)}})[0].active()


def test_a_missing_peering_object_pauses_as_it_pauses_kopf():
    active, asked = replica({})
    assert not active.active() and asked == [(None, "agreement-operator")]


def test_with_a_namespace_list_every_namespaces_peering_must_agree():
    listed = Peering(ME.name, ME.identity, ME.priority, namespaces=("labeling", "qa"))
    fine = {"labeling": {"pod-b": peer(100)}, "qa": {}}
    active, asked = replica(fine, listed)
    assert active.active() and asked == [("labeling", ME.name), ("qa", ME.name)]
    assert not replica({**fine, "qa": {"pod-b": peer(900)}}, listed)[0].active()


def test_an_answer_a_moment_old_will_do_for_those_that_ask_for_it():
    active, asked = replica({None: {ME.identity: peer(500)}})
    assert active.active(max_age=60) and active.active(max_age=60)
    assert len(asked) == 1  # the queued passes of a burst share one read
    assert active.active()  # the periodic loop's look, as before: read again
    assert len(asked) == 2
