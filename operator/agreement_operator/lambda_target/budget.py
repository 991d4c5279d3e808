"""The operator's share of an AWS quota: a token bucket in front of a client that never makes a caller wait.

Lambda allows 15 control-plane requests per second per account and region, shared by
every tool in the account, Label Studio Enterprise's own deploys included. A Budget spends
the operator's share (`rate` calls per second, `burst` at once). A call that finds it spent
gets a slot instead of a sleep: the seconds until its turn, which the pass hands to kopf as
the delay before it comes back (as it does while Lambda is busy). The slot is kept under the
caller's key (the function's name), so a caller that comes back at its turn goes ahead
without queueing again.

Turns follow the generic cell rate algorithm (GCRA): `_next_free` is the time from which the
next turn is free (less `burst - 1` intervals), and it moves on by 1/rate with every caller.
So callers are served in the order they came, however many wait. kopf brings callers back
a little late now and then, several at once; a token bucket over the calls really sent makes
a caller whose turn has come wait the fraction of a second the rate needs, so that late
callers never go out faster than the rate.

An urgent call (a person changed a metric) does not queue behind bulk work: it goes at once,
drawing on an overdraft of its own (at most `urgent_rate` calls per second), and moves the
bulk queue back by its turn, so the share is kept over any minute.

Lambda's 429s take a quarter off the rate, once per second that has any (not below `floor`);
each calm second after CALM_SECONDS without one gives back a tenth of the configured rate.
"""

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# A slot is kept this long past its time for its caller to come back (kopf's delays are not exact).
SLOT_GRACE_SECONDS = 60.0
# A caller that comes back this little before its slot goes ahead: its delay is as good as the slot.
EARLY_SECONDS = 0.05
# Each second with 429s takes a quarter off the rate; after CALM_SECONDS without one, each second gives
# back a tenth of the configured rate. Halving, and 10 s of calm, cost a burst of 1,000 metrics 2.6x its
# floor beside another client taking 5 of the 15 calls/s (docs/performance.md).
BACK_OFF = 0.75
CALM_SECONDS = 5.0
# The sent calls' bucket holds at least two calls: the periodic loop brings callers back on whole
# seconds, and at 2 calls/s (the Logs budget) a bucket one call deep let only one of each second's two go.
SENT_DEPTH_MIN = 2.0


@dataclass(frozen=True)
class BudgetStats:
    """What Prometheus shows of a budget (counters since the start)."""

    name: str
    rate: float  # calls per second now (below `configured` after a 429)
    configured: float
    tokens: float  # calls that could go at once now
    queued: int  # callers holding a slot
    waits: int  # calls that got a slot instead of going at once
    wait_seconds: float  # total of the delays handed out
    throttled: int  # 429s AWS answered despite the budget
    connection: str = "default"  # the AWS connection (account and region) whose quota it shares


class Budget:
    def __init__(self, name: str, rate: float, burst: float | None = None, urgent_rate: float | None = None,
                 floor: float | None = None, clock: Callable[[], float] = time.monotonic,
                 connection: str = "default") -> None:
        if rate <= 0:
            raise ValueError(f"budget {name}: rate must be positive, not {rate}")
        self.name, self.configured, self.rate, self.connection = name, rate, rate, connection
        # Half a second of calls at once: two operators each at half the quota stay under it together.
        self.burst = burst if burst is not None else max(1.0, rate / 2)
        self.urgent_rate = urgent_rate if urgent_rate is not None else max(0.5, rate / 5)
        self.floor = floor if floor is not None else min(rate, 1.0)
        self.clock = clock
        now = clock()
        self._next_free = self._urgent_next_free = now
        self._slots: dict[str, float] = {}
        self._sent_depth = max(self.burst, SENT_DEPTH_MIN)
        self._sent_tokens, self._sent_tokens_at = self._sent_depth, now
        self._last_throttle: float | None = None
        self._recovered_at = now
        self._waits, self._wait_seconds, self._throttled = 0, 0.0, 0
        self._guard = threading.Lock()

    def take(self, key: str, urgent: bool = False) -> float:
        """0.0: go now (the call is counted). Otherwise the seconds until `key`'s turn: come back then."""
        with self._guard:
            now = self.clock()
            self._recover(now)
            turn = self._slots.get(key)
            if turn is not None and turn < now - SLOT_GRACE_SECONDS:
                turn = None  # its caller never came back
            if turn is None:
                turn = self._queue(now, urgent)
                if turn > now + 1e-9:  # floating point: a turn a rounding error away is now
                    self._waits += 1
                    self._wait_seconds += turn - now
            if turn <= now + EARLY_SECONDS:
                wait = 0.0 if urgent else self._sent_wait(now)
                if wait <= 1e-9:
                    self._sent_tokens -= 1.0  # below zero after urgent calls: the bulk pays them back
                    self._slots.pop(key, None)
                    return 0.0
                turn = now + wait
            self._slots[key] = turn
            if len(self._slots) % 1024 == 0:
                self._forget_expired(now)
            return turn - now

    def _queue(self, now: float, urgent: bool) -> float:
        """A new caller's turn: the queue's next free one, or for an urgent caller the overdraft's."""
        interval = 1.0 / self.rate
        next_free = max(self._next_free, now)
        turn = max(now, next_free - (self.burst - 1) * interval)
        if urgent and turn > now:
            turn = min(turn, max(self._urgent_next_free, now))
            self._urgent_next_free = turn + 1.0 / self.urgent_rate
        self._next_free = next_free + interval  # an urgent caller moves the bulk queue back by its turn
        return turn

    def _sent_wait(self, now: float) -> float:
        """Seconds a caller whose turn has come still waits before its call really goes out (0: now).

        A call goes out with a token of the sent calls' bucket (`burst` deep, at least SENT_DEPTH_MIN,
        filled at the rate), so that what really goes out in any window of T seconds stays within
        rate x T + that depth. kopf brings
        callers back late and in bunches; two operators each at half of Lambda's quota stay under it
        together only so (docs/performance.md). A caller that finds no token comes back when one is due."""
        self._sent_tokens = min(self._sent_depth, self._sent_tokens + (now - self._sent_tokens_at) * self.rate)
        self._sent_tokens_at = now
        if self._sent_tokens >= 1.0 - 1e-9:
            return 0.0
        # Only until the next token: a moment reserved further ahead would add up while the queue is
        # saturated (each caller without a token pushing the next one back), and starve some callers.
        return (1.0 - self._sent_tokens) / self.rate

    def throttled(self) -> None:
        """AWS answered 429: someone else in the account is using the quota; slow down."""
        with self._guard:
            now = self.clock()
            self._throttled += 1
            if self._last_throttle is None or now - self._last_throttle >= 1.0:  # a second's 429s are one signal
                self.rate = max(self.floor, self.rate * BACK_OFF)
            self._last_throttle = self._recovered_at = now

    def stats(self) -> BudgetStats:
        with self._guard:
            now = self.clock()
            self._recover(now)
            interval = 1.0 / self.rate
            tokens = max(0.0, min(self.burst, self.burst - (self._next_free - now) / interval))
            return BudgetStats(self.name, self.rate, self.configured, tokens, len(self._slots), self._waits,
                               self._wait_seconds, self._throttled, self.connection)

    def describe(self) -> str:
        with self._guard:
            where = "" if self.connection == "default" else f" of connection {self.connection}"
            return (f"{self.name}{where}: {self.rate:g} of {self.configured:g} requests/s, "
                    f"{len(self._slots)} calls queued")

    def _recover(self, now: float) -> None:
        if self.rate >= self.configured or self._last_throttle is None:
            return
        calm_since = max(self._last_throttle + CALM_SECONDS, self._recovered_at)
        seconds = math.floor(now - calm_since)
        if seconds >= 1:
            self.rate = min(self.configured, self.rate + seconds * self.configured / 10)
            self._recovered_at = calm_since + seconds

    def _forget_expired(self, now: float) -> None:
        for key in [key for key, slot in self._slots.items() if slot < now - SLOT_GRACE_SECONDS]:
            del self._slots[key]
