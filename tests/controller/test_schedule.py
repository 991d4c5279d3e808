from agreement_operator.controller import schedule
from agreement_operator.controller.schedule import Schedule


def test_first_times_fall_at_random_points_of_the_interval_then_once_per_interval(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: clock[0])
    interval = 600.0
    resync = Schedule(interval)
    for key in range(200):
        resync.due(str(key))
    firsts = [resync._due[str(key)] - 1000.0 for key in range(200)]
    assert 0 <= min(firsts) < interval / 10 and interval * 0.9 < max(firsts) <= interval
    clock[0] += interval
    assert resync.take("0") is True
    assert resync.take("0") is False  # next due one interval later
    assert resync._due["0"] == clock[0] + interval


def test_done_puts_the_next_time_an_interval_away_or_now():
    looks = Schedule(300, spread_first=False)
    assert looks.due("a")  # not spread: due at once
    looks.done("a")
    assert not looks.due("a")
    looks.done("a", again_now=True)
    assert looks.due("a")
    looks.forget("a")
    assert looks.due("a")


def test_a_backoff_starts_short_doubles_and_stops_at_its_ceiling(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(schedule.time, "monotonic", lambda: clock[0])
    looks = schedule.Backoff(10, 600)
    assert not looks.due("stalled")  # first seen now: first look 10 s later
    clock[0] += 10
    assert looks.due("stalled")
    delays = []
    for _ in range(8):
        looks.again("stalled")
        delays.append(looks._next["stalled"][0] - clock[0])
        clock[0] = looks._next["stalled"][0]
    assert delays == [20, 40, 80, 160, 320, 600, 600, 600]
    looks.forget("stalled")
    assert not looks.due("stalled")  # a new Stall starts short again
