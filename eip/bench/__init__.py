"""Benchmarks: each returns a dict of measurements and ratios against a baseline timed in the same run."""

import time
from collections.abc import Callable


def rate_per_s(fn: Callable[[], object], seconds: float, batch: int = 100) -> float:
    """Calls of `fn` per second, timed in batches for at least `seconds` (after one warm-up batch)."""
    for _ in range(batch):
        fn()
    calls = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        for _ in range(batch):
            fn()
        calls += batch
        elapsed = time.perf_counter() - start
    return calls / elapsed


def goal(value: float, target: float, higher_is_better: bool = True) -> dict:
    """A measured value against its goal, with whether it is met."""
    met = value >= target if higher_is_better else value <= target
    return {"value": round(value, 3), "goal": target, "met": met}
