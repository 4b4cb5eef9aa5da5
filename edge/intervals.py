"""Settlement intervals: 15-minute slots aligned to the Unix epoch (so to UTC midnight), named by their start.

An interval is [start_s, end_s) with `index = start_s // INTERVAL_S`. Its id is the start in UTC and the
length: "2026-11-21T10:00Z/15m". The id is what the ledger stores as `interval_id`, what the CLI and the API
accept, and what keys of settlement transfers start with; the index is what tables store and order by.

>>> interval = parse_interval_id("2026-11-21T10:00Z/15m")
>>> interval.interval_id, interval.end_s - interval.start_s
('2026-11-21T10:00Z/15m', 900)
>>> interval_at(interval.start_s + 899) == interval, interval_at(interval.end_s) == interval.next()
(True, True)
>>> interval.minute_of_day_local   # Lusaka is UTC+2 all year
720
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from edge.errors import InvalidRequestError
from edge.limits import INTERVAL_S
from enerlectra.invariant import invariant

LUSAKA_UTC_OFFSET_S = 2 * 3600  # Africa/Lusaka: CAT, UTC+2, no daylight saving
MINUTES_PER_DAY = 24 * 60
_SUFFIX = f"/{INTERVAL_S // 60}m"
_ID = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})Z(?:/(\d+)m)?")
# Intervals before 2020 or after 2100 are a clock or typing mistake, never a settlement to run.
INDEX_MIN = 1_577_836_800 // INTERVAL_S
INDEX_MAX = 4_102_444_800 // INTERVAL_S


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    index: int

    def __post_init__(self) -> None:
        invariant(type(self.index) is int, "an interval index is an int")
        invariant(INDEX_MIN <= self.index <= INDEX_MAX, "interval within 2020..2100")

    @property
    def start_s(self) -> int:
        return self.index * INTERVAL_S

    @property
    def end_s(self) -> int:
        return (self.index + 1) * INTERVAL_S

    @property
    def interval_id(self) -> str:
        return datetime.fromtimestamp(self.start_s, UTC).strftime("%Y-%m-%dT%H:%MZ") + _SUFFIX

    @property
    def minute_of_day_local(self) -> int:
        """The start's minute of the day in Lusaka (what the time-of-day tariff windows are written in)."""
        return (self.start_s + LUSAKA_UTC_OFFSET_S) // 60 % MINUTES_PER_DAY

    def next(self) -> "Interval":
        return Interval(self.index + 1)

    def __str__(self) -> str:
        return self.interval_id


def interval_at(time_s: int) -> Interval:
    """The interval holding the instant `time_s` (Unix seconds)."""
    return Interval(int(time_s) // INTERVAL_S)


def last_completed(now_s: int) -> Interval:
    """The newest interval whose end is at or before `now_s`."""
    return Interval(int(now_s) // INTERVAL_S - 1)


def parse_interval_id(text: str) -> Interval:
    """"2026-11-21T10:00Z/15m" (the length may be left out) → Interval; InvalidRequestError otherwise."""
    match = _ID.fullmatch((text or "").strip())
    if match is None:
        raise InvalidRequestError("interval_id_invalid", f"interval id must look like 2026-11-21T10:00Z{_SUFFIX}")
    year, month, day, hour, minute, length = match.groups()
    if length is not None and int(length) * 60 != INTERVAL_S:
        raise InvalidRequestError("interval_length_invalid", f"intervals are {INTERVAL_S // 60} minutes long")
    try:
        start = datetime(int(year), int(month), int(day), int(hour), int(minute), tzinfo=UTC)
    except ValueError as err:
        raise InvalidRequestError("interval_id_invalid", f"not a date and time: {text!r}") from err
    start_s = int(start.timestamp())
    if start_s % INTERVAL_S:
        raise InvalidRequestError("interval_id_unaligned", f"intervals start every {INTERVAL_S // 60} minutes")
    index = start_s // INTERVAL_S
    if not INDEX_MIN <= index <= INDEX_MAX:
        raise InvalidRequestError("interval_id_out_of_range", "interval must lie between 2020 and 2100")
    return Interval(index)
