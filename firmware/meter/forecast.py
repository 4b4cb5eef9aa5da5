# Depletion forecast: how many hours the prepaid credit will last, from the meter's own recent consumption.
#
#   from meter import forecast, trees
#   model = trees.load(forecast.MODEL_PATH)
#   history = forecast.History()
#   history.record(hour, wh)                 # once an hour: the Wh of the hour that just ended
#   flash_file.write(history.dump())         # ... and keep it across reboots: history.restore(data)
#   hours = forecast.hours_until_depleted(credit_wh, history, model, minute)   # whenever credit changes
#   naive = forecast.naive_hours_until_depleted(credit_wh, history)
#   level = forecast.alert_level(hours, level)  # ALERT_NONE, ALERT_DAY (<= 24 h), ALERT_HOURS (<= 6 h)
#
# Hours are counted in local time since the port's epoch: `hour_number, minute = forecast.clock(seconds)`
# with `seconds = time.time() + UTC offset` (Zambia: +7200 s, no daylight saving).
#
# How: the History keeps the last 168 hourly Wh in a ring (336 bytes). From it, once per recorded hour, the
# model predicts the consumption of each of the next 24 hours (8 integer features per hour, see `History.features`);
# `hours_until_depleted` then walks those hours, the current one only for its remaining minutes, until the
# credit is used up, skipping whole predicted days at a time, so a call costs at most 48 steps and no model
# evaluation. Credit that outlasts HORIZON_H hours returns HORIZON_H (show "more than a week").
# With less than a day of history the model is not used: the naive forecast (credit / trailing mean) is.
# The features are scale-free (percent of the household's own mean hour), so one model serves a household
# that lights three bulbs and one that cooks on hotplates.
# Numbers: energy is int Wh; features are ints in int16; predictions and hours are floats, exact enough in
# single precision. Raises ValueError for a negative Wh, a minute outside 0..59 or a model with another
# feature count.

from array import array

try:
    from micropython import const
except ImportError:  # CPython: the tools and tests import this module too
    def const(value):
        return value

import gc
import struct
import time
from binascii import crc32

# The part the meter runs at every reading, always loaded there (this module is loaded once an hour).
from .depletion import (  # noqa: F401
    ALERT_DAY,
    ALERT_DAY_H,
    ALERT_HOURS,
    ALERT_HOURS_H,
    ALERT_NONE,
    HORIZON_H,
    alert_level,
    naive_hours,
    walk,
)

MODEL_PATH = "models/depletion.csv"
HISTORY_FILE = "history"  # on the meter's flash: to_file()
FEATURES = const(8)  # hour of day, weekday, mean Wh/h, profile %, yesterday %, last week %, last 24 h %, zeros

_HOURS = const(168)  # the ring: one week of hourly Wh
_DAY = const(24)
_WH_MAX = const(65535)  # array('H')
_INT16_MAX = const(32767)
_PERCENT = const(100)
_DUMP_HEADER = "<iHH"  # last hour (-1: none), ring position, count
_DUMP_BYTES = const(344)  # 8 + 2 * 168
_FILE_HOUR = "<iI"  # in a history file, after the dump: the hour in progress and its starting Wh; then a CRC-32

# Weekday of the port's epoch (ESP32: 2000-01-01, a Saturday; unix and CPython: 1970-01-01, a Thursday).
_EPOCH_WEEKDAY = time.gmtime(0)[6]


def clock(seconds_local):
    """Local seconds since the epoch -> (hour_number, minute)."""
    seconds_local = int(seconds_local)
    return seconds_local // 3600, seconds_local % 3600 // 60


def weekday(hour):
    """0 = Monday, like time.localtime()[6]."""
    return (hour // _DAY + _EPOCH_WEEKDAY) % 7


class History:
    """The last week of consumption, Wh per hour, and the model's predictions for the next 24 hours."""

    def __init__(self):
        self._wh = array("H", bytes(2 * _HOURS))
        self.next = 0  # ring index of the next hour
        self.count = 0  # hours recorded, up to 168
        self.last_hour = None  # hour_number of the newest hour
        self._features = array("h", bytes(2 * FEATURES))
        self._predicted = array("f", bytes(4 * _DAY))
        self.model = None  # the model _predicted was computed with; None: stale

    def record(self, hour, wh):
        """Record the Wh used in hour `hour` (the one that just ended).

        Hours skipped since the previous record count as 0 Wh (the meter was off: load shedding). The same
        hour again adds to it; an hour before the newest (the clock was set back) is taken as the next hour.
        """
        if wh < 0:
            raise ValueError("wh must not be negative")
        wh = min(int(wh), _WH_MAX)
        self.model = None
        if self.last_hour is not None:
            gap = hour - self.last_hour
            if gap == 0:
                newest = (self.next - 1) % _HOURS
                self._wh[newest] = min(self._wh[newest] + wh, _WH_MAX)
                return
            for _ in range(min(gap - 1, _HOURS)):  # gap < 0: range is empty
                self._push(0)
        self._push(wh)
        self.last_hour = hour

    def dump(self):
        """The history as bytes (344), for a flash file: a meter that reboots in load shedding keeps its week."""
        last_hour = -1 if self.last_hour is None else self.last_hour
        return struct.pack(_DUMP_HEADER, last_hour, self.next, self.count) + bytes(self._wh)

    def restore(self, data):
        """Load what dump() wrote; raises ValueError if it is not that. Record the hours missed since."""
        if len(data) != _DUMP_BYTES:
            raise ValueError("not a dumped history")
        last_hour, ring_next, count = struct.unpack_from(_DUMP_HEADER, data)
        if not (0 <= ring_next < _HOURS and 0 <= count <= _HOURS):
            raise ValueError("not a dumped history")
        header = struct.calcsize(_DUMP_HEADER)
        self._wh = array("H", data[header:])
        self.last_hour = None if last_hour < 0 else last_hour
        self.next = ring_next
        self.count = count
        self.model = None

    def _push(self, wh):
        self._wh[self.next] = wh
        self.next = (self.next + 1) % _HOURS
        if self.count < _HOURS:
            self.count += 1

    def ago(self, n):
        """The Wh of the hour `n` before the next one (1: the newest); 0 if not recorded."""
        return self._wh[(self.next - n) % _HOURS]

    def total(self, n):
        """The Wh of the newest `n` hours (at most what was recorded)."""
        wh = self._wh
        total = 0
        index = self.next
        for _ in range(min(n, self.count)):
            index = index - 1 if index else _HOURS - 1
            total += wh[index]
        return total

    def summary(self):
        """(n, Wh of the newest n hours, Wh of the newest 24, hours of the newest 24 with 0 Wh), n = min(count, 168)."""
        zeros = 0
        for back in range(1, min(self.count, _DAY) + 1):
            if not self.ago(back):
                zeros += 1
        return min(self.count, _HOURS), self.total(_HOURS), self.total(_DAY), zeros

    def features(self, offset, out, summary):
        """Fill `out` (FEATURES ints) for the hour `offset` (0..23) after the newest one; needs count >= 24
        and a non-zero total in `summary`.

        0 hour of day, 1 weekday, 2 mean Wh per hour, then as percent of the mean hour: 3 the profile (mean
        of the same hour on the earlier days), 4 the same hour yesterday, 5 the same hour a week ago (the
        profile if not recorded), 6 the last 24 hours; 7 hours with 0 Wh in the last 24 (load shedding).
        """
        n, total, total_day, zeros = summary
        hour = self.last_hour + 1 + offset
        out[0] = hour % _DAY
        out[1] = weekday(hour)
        out[2] = min(total // n, _INT16_MAX)
        profile = days = 0
        back = _DAY - offset
        while back <= n:
            profile += self.ago(back)
            days += 1
            back += _DAY
        out[3] = _percent(profile, days * total, n)
        out[4] = _percent(self.ago(_DAY - offset), total, n)
        back = _HOURS - offset
        out[5] = _percent(self.ago(back), total, n) if back <= n else out[3]
        out[6] = _percent(total_day, _DAY * total, n)
        out[7] = zeros

    def predicted(self, model):
        """array('f') of the predicted Wh of each of the next 24 hours; None with less than a day recorded."""
        if self.count < _DAY:
            return None
        if self.model is model:
            return self._predicted
        if model.n_features != FEATURES:
            raise ValueError("the model must take %d features" % FEATURES)
        summary = self.summary()
        n, total = summary[0], summary[1]
        predicted = self._predicted
        if total:
            features = self._features
            scale = total / (_PERCENT * n)  # predictions are percent of the mean hour
            for offset in range(_DAY):
                self.features(offset, features, summary)
                predicted[offset] = max(0.0, model.predict(features)) * scale
        else:
            for offset in range(_DAY):
                predicted[offset] = 0.0
        self.model = model
        return predicted


def _percent(wh, total, n):
    # wh as a percentage of the mean hour (total / n), floored, clipped to int16.
    return min(wh * _PERCENT * n // total, _INT16_MAX)


def hours_until_depleted(credit_wh, history, model, minute=0):
    """Hours until `credit_wh` is used up, 0.0..HORIZON_H, from the start of the hour after the newest
    recorded one plus `minute`. None when nothing has been recorded. Cheap after the first call of an hour.
    """
    if not 0 <= minute < 60:
        raise ValueError("minute must be 0..59")
    if credit_wh <= 0:
        return 0.0
    predicted = history.predicted(model)
    if predicted is None:
        return naive_hours_until_depleted(credit_wh, history)
    return walk(credit_wh, predicted, minute)


def naive_hours_until_depleted(credit_wh, history):
    """The naive forecast: credit / mean Wh per hour of the trailing 24 hours (fewer if fewer recorded).
    0.0..HORIZON_H; None when nothing has been recorded."""
    return naive_hours(credit_wh, min(history.count, _DAY), history.total(_DAY))


def to_file(dump, hour, start_wh):
    """A history file's bytes: History.dump(), the hour in progress and its starting Wh, a CRC-32."""
    data = dump + struct.pack(_FILE_HOUR, hour, start_wh)
    return data + struct.pack("<I", crc32(data))


def from_file(data):
    """(History, hour, start_wh) from to_file()'s bytes; ValueError("check failed") if damaged."""
    body = data[:-4]
    if len(data) < 12 or struct.unpack_from("<I", data, len(data) - 4)[0] != crc32(body):
        raise ValueError("check failed")
    history = History()
    history.restore(body[:-8])
    hour, start_wh = struct.unpack_from(_FILE_HOUR, body, len(body) - 8)
    return history, hour, start_wh


def hour_ended(device, hour):
    """The meter's hourly step (meter/device.py `hourly`; here so that its code is loaded only once an hour): local
    hour `hour` has begun, or a history restored at boot waits for its predictions (`device.model_due`).

    Records the hour that ended in `device.history` (History.dump() bytes), unless it was seen in part only (the
    meter booted in it without a saved one). Hours the meter was off count as 0 Wh (load shedding); a clock set
    forward while it runs is not an outage: no 0 Wh hours. An hour before the one in progress means the clock was
    set back: the history takes it as the next. Writes the history file, then sets `device.recent` (the trailing
    day's hours and Wh, for the naive forecast) and `device.predicted` (the model's 24 hours, an array('f'); None:
    naive forecast). The model is loaded for it: the caller unloads meter.trees.
    """
    from meter import flash

    record = False  # a restored history's predictions: nothing to record or save
    started, start_wh = device.hour
    if hour != started:
        energy_wh = device.energy_wh()
        record = None
        if device.hour_seen:
            jumped = hour > started + 1 and not device.hour_restored
            record = (started, max(0, energy_wh - start_wh), hour - 1 if jumped else None)
        device.hour_seen = True
        device.hour_restored = False
        device.hour = (hour, energy_wh)
    device.model_due = False
    history = History()
    if device.history:
        history.restore(device.history)
    if record:
        history.record(record[0], record[1])
        if record[2] is not None:
            history.last_hour = record[2]
        device.history = history.dump()
    if record is not False:
        try:
            flash.write_atomic(HISTORY_FILE, to_file(history.dump(), device.hour[0], device.hour[1]))
        except OSError as err:
            print("flash full: forecast history not saved:", repr(err))
    device.recent = (min(history.count, _DAY), history.total(_DAY))
    device.predicted = None
    if device.model_path is None or history.count < _DAY:
        return  # the naive forecast
    device.outbox.release()
    gc.collect()
    from meter import trees

    try:
        model = trees.load(device.model_path)
        device.predicted = history.predicted(model)  # all that stays: the model's 3.4 KB go
    except (OSError, ValueError, MemoryError) as err:
        print("forecast: model not run (naive forecast):", repr(err))
        return
    print("forecast: model run on %d hours of history" % history.count)
