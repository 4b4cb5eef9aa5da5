"""Bisection for the benchmarks' "smallest heap that works" figures (MicroPython has no peak-heap counter)."""

from collections.abc import Callable


def smallest_passing(works: Callable[[int], bool], low: int, high: int, step: int = 1) -> int:
    """The smallest value, to within `step`, at which works(value) holds, given that it holds at `high` and is taken
    not to at `low`. Heap fragmentation makes success not quite monotonic in the heap size: an estimate."""
    while high - low > step:
        middle = (low + high) // 2
        if works(middle):
            high = middle
        else:
            low = middle
    return high
