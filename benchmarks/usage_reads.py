"""GetMetricData calls for status.usage, per timer tick, for N metrics.

The operator's own Schedule and UsageBoard, against moto's CloudWatch in process (each call
real, each counted), on a simulated clock: the timer ticks every 10 s (a 600 s resync
interval / 60), each metric's usage look is due once per 300 s (the function-errors interval)
with its first at a random point of it, and every function is kept by the target as after a
restart (each resumed metric). Prints calls per tick and per interval.

    .venv/bin/python benchmarks/usage_reads.py --counts 1,100,1000
"""

import argparse
import os
from collections import Counter
from unittest import mock

import boto3
from moto import mock_aws

from agreement_operator.controller import schedule
from agreement_operator.lambda_target import usage
from agreement_operator.lambda_target.cloudwatch_metrics import FunctionMetrics
from agreement_operator.lambda_target.usage import UsageBoard

TICK_SECONDS = 10.0
LOOK_SECONDS = 300.0
WINDOW_SECONDS = 3600.0


def measure(count: int, intervals: int) -> None:
    clock = [0.0]
    with mock_aws(), mock.patch.object(schedule.time, "monotonic", lambda: clock[0]), \
            mock.patch.object(usage.time, "monotonic", lambda: clock[0]):
        client = boto3.client("cloudwatch", region_name="us-east-1")
        calls: Counter[int] = Counter()  # tick -> GetMetricData calls
        client.meta.events.register("before-call.cloudwatch.GetMetricData",
                                    lambda **_: calls.update([int(clock[0] // TICK_SECONDS)]))
        board = UsageBoard(FunctionMetrics(client), WINDOW_SECONDS, LOOK_SECONDS)
        looks = schedule.Schedule(LOOK_SECONDS)
        names = [f"custom-metric-bench-{index}" for index in range(count)]
        for name in names:
            board.keep(name)
        ticks = int(intervals * LOOK_SECONDS / TICK_SECONDS)
        for _ in range(ticks):
            clock[0] += TICK_SECONDS
            for name in names:
                if looks.take(name):
                    board.usage(name)
        total = sum(calls.values())
        busy = [calls[tick] for tick in sorted(calls)]
        print(f"N={count:>5}: {total} GetMetricData calls over {intervals} intervals of {LOOK_SECONDS:g} s "
              f"({total / intervals:g} per interval); {len(busy)} of {ticks} ticks made calls, "
              f"at most {max(busy, default=0)} in one tick")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1,100,1000")
    parser.add_argument("--intervals", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    for count in (int(text) for text in args.counts.split(",")):
        measure(count, args.intervals)


if __name__ == "__main__":
    main()
