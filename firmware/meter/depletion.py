# The depletion forecast's part the meter runs at every reading and top-up, always loaded on the meter; the rest
# (the history, the model's features and predictions, the history file) is meter/forecast.py, which re-exports
# these and is loaded once an hour (docs/forecasting.md, docs/meter.md "Memory").
#
#   hours = depletion.walk(credit_wh, predicted, minute)      # from the model's 24 predicted hours
#   hours = depletion.naive_hours(credit_wh, n, total_wh)      # from the trailing n (<= 24) hours' Wh
#   level = depletion.alert_level(hours, level)                # ALERT_NONE, ALERT_DAY (<= 24 h), ALERT_HOURS (<= 6 h)

try:
    from micropython import const
except ImportError:  # CPython: the tools and tests import this module too
    def const(value):
        return value


HORIZON_H = const(168)
ALERT_NONE = const(0)
ALERT_DAY = const(1)
ALERT_HOURS = const(2)
ALERT_DAY_H = const(24)
ALERT_HOURS_H = const(6)
ALERT_TEXT = ("none", "credit for less than a day", "credit for less than 6 hours")  # the meter's console lines
_DAY = const(24)


def walk(credit_wh, predicted, minute=0):
    """Hours until `credit_wh` is used by hours of `predicted` Wh, repeated day after day; the first hour
    only for its remaining 60 - `minute` minutes. 0.0..HORIZON_H."""
    remaining = float(credit_wh)
    if remaining <= 0:
        return 0.0
    day = 0.0
    for wh in predicted:
        day += wh
    if day <= 0:
        return float(HORIZON_H)
    elapsed = 0.0
    span = (60 - minute) / 60
    for wh in predicted:  # the rest of today's 24 hours
        used = wh * span
        if used >= remaining:
            return min(elapsed + span * remaining / used, float(HORIZON_H))
        remaining -= used
        elapsed += span
        span = 1.0
    days = remaining // day  # whole predicted days
    if elapsed + days * _DAY >= HORIZON_H:
        return float(HORIZON_H)
    elapsed += days * _DAY
    remaining -= days * day
    for wh in predicted:
        if remaining <= 0:
            break
        if wh >= remaining:
            return min(elapsed + remaining / wh, float(HORIZON_H))
        remaining -= wh
        elapsed += 1.0
    return min(elapsed, float(HORIZON_H))


def naive_hours(credit_wh, n, total):
    """The naive forecast from the trailing `n` hours (at most 24) and their `total` Wh: what the meter keeps
    between hours instead of the history."""
    if credit_wh <= 0:
        return 0.0
    if not n:
        return None
    if not total:
        return float(HORIZON_H)
    return min(credit_wh * n / total, float(HORIZON_H))


def alert_level(hours_left, level=ALERT_NONE):
    """The alert to show for a forecast of `hours_left`, given the current `level`.

    ALERT_HOURS at or below ALERT_HOURS_H, ALERT_DAY at or below ALERT_DAY_H. A level is left only when the forecast
    rises a quarter above its threshold, so a forecast that hovers around it does not flap (and does not
    send an SMS each hour). Raise an SMS when the level goes up. `hours_left` None (unknown) keeps the level.
    """
    if hours_left is None:
        return level
    if hours_left <= ALERT_HOURS_H or (level == ALERT_HOURS and hours_left <= ALERT_HOURS_H * 5 / 4):
        return ALERT_HOURS
    if hours_left <= ALERT_DAY_H or (level >= ALERT_DAY and hours_left <= ALERT_DAY_H * 5 / 4):
        return ALERT_DAY
    return ALERT_NONE
