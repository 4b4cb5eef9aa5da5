"""What the household sees: the meter's 128x64 screen (SSD1306 on the ESP32, a frame buffer on the virtual board).

    screen = Screen(board.screen, utc_offset_s=7200)
    screen.note("TOKEN OK +5kWh", until_s)       # a message on the alert line for a while
    screen.show(now_s, credit_wh, power_w, level, entry, queued, online, hours_left, forecast_level)

Eight lines of 16 characters (framebuf's 8x8 font):
    ENERLECTRA 14:05      local time (--:-- until the clock is set)
    CREDIT                 the prepaid credit, in kWh with 3 decimals (negative: emergency credit in use)
        12.345 kWh
    POWER      420 W
    about 30 h left        the depletion forecast (meter/forecast.py): "under 1 h", "about N h" below two days,
                           "N days", "over a week"; blank without a forecast or once the credit is spent
    LOW CREDIT             the alert line, shown inverted, most urgent first: a note (top-up, token result) for
                           a few seconds, CREDIT EMPTY, EMERGENCY CREDIT, PAYG OFF, UNDER 6 H LEFT (forecast),
                           LOW CREDIT, UNDER 1 DAY LEFT (forecast)
    > 123456789_           the token being typed; else ONLINE, or OFFLINE and the readings waiting
show() redraws and sends the frame only when a line changed; `lines` holds what is on the screen.
"""

import time

from meter import credit

_ALERTS = {credit.LOW: "LOW CREDIT", credit.EMERGENCY: "EMERGENCY CREDIT", credit.DEPLETED: "CREDIT EMPTY",
           credit.UNLIMITED: "PAYG OFF"}
_FORECAST_ALERTS = ("", "UNDER 1 DAY LEFT", "UNDER 6 H LEFT")  # forecast.ALERT_NONE, ALERT_DAY, ALERT_HOURS
_TIME_VALID_S = 1577836800  # 2020-01-01: before that the RTC has not been set


def kwh(wh):
    """'12.345' for 12345 Wh, '-0.120' for -120 Wh."""
    sign = "-" if wh < 0 else ""
    wh = abs(wh)
    return "%s%d.%03d" % (sign, wh // 1000, wh % 1000)


def time_left(hours_left):
    """The forecast line: 'under 1 h left', 'about 7 h left' (below 48 h), '3 days left', 'over a week left'."""
    if hours_left < 1:
        return "under 1 h left"
    if hours_left < 48:
        return "about %d h left" % int(hours_left + 0.5)
    if hours_left >= 168:  # forecast.HORIZON_H: the forecast does not look further
        return "over a week left"
    return "%d days left" % int(hours_left // 24)


class Screen:
    def __init__(self, driver, utc_offset_s=0):
        self.driver = driver
        self.utc_offset_s = utc_offset_s
        self.lines = None
        self._note = ("", 0)  # (text, shown until_s)

    def note(self, text, until_s):
        self._note = (text, until_s)

    def show(self, now_s, credit_wh, power_w, level, entry="", queued=0, online=True, hours_left=None,
             forecast_level=0):
        if now_s >= _TIME_VALID_S:
            local = time.gmtime(now_s + self.utc_offset_s - (946684800 if time.gmtime(0)[0] == 2000 else 0))
            clock = "%02d:%02d" % (local[3], local[4])
        else:
            clock = "--:--"
        if now_s < self._note[1]:
            alert = self._note[0]
        elif level > credit.LOW or (level == credit.LOW and forecast_level < 2):
            alert = _ALERTS[level]
        else:
            alert = _FORECAST_ALERTS[forecast_level]
        if entry:
            status = "> " + entry + "_"
        elif online:
            status = "ONLINE"
        else:
            status = "OFFLINE %d" % queued
        lines = (
            "ENERLECTRA " + clock,
            "",
            "CREDIT",
            "%16s" % (kwh(credit_wh) + " kWh"),
            "POWER%9d W" % power_w,
            "" if hours_left is None or credit_wh <= 0 else time_left(hours_left),
            alert[:16],
            status[:16],
        )
        if lines == self.lines:
            return False
        self.lines = lines
        fb = self.driver.fb
        fb.fill(0)
        for row in range(8):
            if row == 6 and lines[6]:
                fb.fill_rect(0, 48, 128, 8, 1)
                fb.text(lines[6], 0, 48, 0)
            else:
                fb.text(lines[row], 0, row * 8, 1)
        self.driver.show(lines)
        return True
