"""The meter's main loop: the wiring of board, credit, outbox, screen and keys, and the phases that load more.

    device = boot.start()   # meter/boot.py builds it, restores state and outbox, then unloads itself
    device.run()

Every tick (tick_ms of the board's clock): service() reads keys and applies tokens, charges the credit with the
energy counted, switches the relay and refreshes the screen. Every interval_s: take_reading() stores a reading
in the outbox. When the gateway is due (right after each reading while it answers; after a back-off while it
does not): network() closes and signs the open readings (signing), then runs one phase of meter/link.py (CoAP), then
checks what the gateway sent down (meter/downlink.py): time and credit grants, each applied once.

RAM: the loop keeps only what every tick needs. The link with CoAP, the downlink checks, token decoding and the
outbox's repairs are modules loaded for their phase and unloaded after it, so that signing, sending and
verifying never hold each other's code at the same time (docs/meter.md, "Memory").
Console lines are for people and for the hardware tests (tests/hardware); docs/meter.md lists them.
"""

import gc
import time

from micropython import const

from meter import (
    COAP_BUFFER_SIZE,
    NO_FORECAST,
    check_signatures,
    credit,
    depletion,
    display,
    keypad,
    outbox,
    state,
    unload,
)

NOTE_S = const(15)
_TIME_VALID_S = const(1577836800)  # 2020-01-01: before that the clock has not been set
ALERTS = ("alert: none", "alert: low credit", "alert: emergency credit in use", "alert: credit empty",
           "alert: prepaid off")


class Device:
    def __init__(self, settings, board, table_path):
        self.settings = settings
        self.board = board
        self.clock = board.clock
        self.state = state.State()
        self.account = credit.Credit(self.state, settings.low_credit_wh, settings.emergency_wh)
        self.outbox = outbox.Outbox(settings.kid, settings.seed, settings.pack_readings, "ob",
                                    settings.outbox_readings_max, table_path)
        self.screen = display.Screen(board.screen, settings.utc_offset_s)
        self.entry = keypad.TokenEntry()
        self.console = keypad.ConsoleKeys() if settings.console_keys else None
        self.online = False
        self.backoff_s = 0
        self.next_attempt_s = 0
        self.next_reading_s = 0
        self.next_sync_s = 0
        self.readings = 0
        self.power_w = 0
        self.level = 0
        self.pulses_base = 0
        self.last_energy = (0, 0)  # (Wh, time) at the last reading: the average power since
        self.booted_ms = 0  # the board clock's ticks at boot: run_s counts uptime, whatever the time is set to
        self._pending_key = None
        self._serving = False
        # The depletion forecast (docs/forecasting.md). meter/forecast.py and the model are loaded once an hour and
        # unloaded after: kept are the week of hourly Wh as bytes (forecast.History.dump(), 344), the hour in
        # progress, the model's 24 predicted hours and the trailing day's (hours, Wh) for the naive forecast, which
        # meter/depletion.py turns into hours left at every reading.
        self.history = None  # None: no hour recorded
        self.recent = (0, 0)
        self.hour = None  # (local hour number, energy Wh at its start)
        self.model_path = None
        self.predicted = None  # the model's 24 predicted hours (array('f')); None: naive forecast
        self.hours_left = None
        self.forecast_level = depletion.ALERT_NONE
        self.model_due = False  # the predictions are to be computed (after a restore at boot)
        self.hour_seen = True  # the hour in progress was counted from its start
        self.hour_restored = False  # the hour in progress is the one saved before a reboot

    def run(self):
        settings = self.settings
        self.network(True)  # the time first, so that the first reading carries it
        while True:
            now_s = self.clock.now_s()
            if settings.run_s and time.ticks_diff(self.clock.ticks_ms(), self.booted_ms) >= settings.run_s * 1000:
                break
            done = settings.readings_max and self.readings >= settings.readings_max
            if done and (not self.outbox.count or not self.online):
                break
            self.service()
            self.hourly(now_s)
            if now_s >= self.next_reading_s and not done:
                self.take_reading(now_s)
            elif self.next_reading_s - now_s > settings.interval_s:  # the clock was set back
                self.next_reading_s = (now_s // settings.interval_s + 1) * settings.interval_s
            if self.outbox.count and now_s >= self.next_attempt_s:
                self.network(now_s >= self.next_sync_s)
            elif now_s >= self.next_sync_s:
                self.network(True)
            gc.collect()  # while little is live: the phases above leave their garbage behind
            self.clock.sleep_ms(settings.tick_ms, self._key_waiting)
        self.save()
        counts = (self.readings, self.outbox.count, self.outbox.packs)
        print("meter stopped after %d readings; outbox holds %d readings in %d packs" % counts)
        self.board.finish()

    def pulses(self):
        return self.pulses_base + self.board.pulses.count

    def energy_wh(self):
        return self.pulses() * 1000 // self.board.imp_per_kwh

    def save(self):
        self.state.pulses = self.pulses()  # always together with the credit it was charged against
        self.state.time_s = max(self.state.time_s, self.clock.now_s())
        try:
            self.state.save()
        except OSError as err:
            print("flash full: state not saved:", repr(err))

    def fix(self, action, *args):
        """Runs one of the outbox's rare repairs (meter/outbox_fix.py)."""
        self.outbox.acquire()
        from meter import outbox_fix

        try:
            return getattr(outbox_fix, action)(self.outbox, *args)
        finally:
            unload("outbox_fix")
            self.outbox.release()

    # --- every tick, and while a request waits ------------------------------------------------------------

    def _key(self):
        key = self._pending_key
        if key is not None:
            self._pending_key = None
            return key
        key = self.board.keys.poll()
        if key is None and self.console is not None:
            key = self.console.poll()
        return key

    def _key_waiting(self):
        if self._pending_key is None:
            self._pending_key = self._key()
        return self._pending_key is not None

    def service(self):
        """Keys, credit, relay, screen: cheap; every tick and while a request waits."""
        if self._serving:
            return
        self._serving = True
        try:
            now_s = self.clock.now_s()
            key = self._key()
            while key is not None:
                token = self.entry.key(key, now_s)
                if token:
                    self.enter_token(token, now_s)
                key = self._key()
            self.account.charge(self.energy_wh())
            self.enforce()
            st = self.state
            self.screen.show(now_s, st.credit_wh, self.power_w, self.level, self.entry.digits, self.outbox.count,
                             self.online, self.hours_left, self.forecast_level)
        finally:
            self._serving = False
        self.board.feed()

    def enforce(self):
        st = self.state
        if self.account.update_relay():
            self.board.relay.set(not st.relay_open)
            line = "relay off: credit used up, %d Wh" if st.relay_open else "relay on: credit restored, %d Wh"
            print(line % st.credit_wh)
            self.save()
        level = self.account.level()
        if level != self.level:
            self.level = level
            print("%s, %d Wh left" % (ALERTS[level], st.credit_wh))

    def enter_token(self, token, now_s):
        gc.collect()
        from meter import tokens

        settings = self.settings
        try:
            note, line = tokens.enter(token, self.state, self.account, settings.openpaygo_key, settings.token_unit_wh,
                                      now_s)
        except ValueError as err:
            note, line = "WRONG TOKEN", "token rejected: " + str(err)
        finally:
            unload("tokens")
            unload("openpaygo")
        print(line)
        self.screen.note(note, now_s + NOTE_S)
        self.save()
        self.enforce()
        self.update_forecast(now_s)

    # --- readings and the gateway -------------------------------------------------------------------------

    def take_reading(self, now_s):
        st = self.state
        energy_wh = self.energy_wh()
        self.account.charge(energy_wh)
        last_wh, last_s = self.last_energy
        if self.board.ct is not None:
            self.power_w = self.board.ct.power_w()
        elif now_s > last_s:
            self.power_w = (energy_wh - last_wh) * 3600 // (now_s - last_s)
        self.last_energy = (energy_wh, now_s)
        st.seq += 1
        st.time_s = now_s
        hours = self.update_forecast(now_s)
        depletion_s = NO_FORECAST if hours is None else int(hours * 3600)
        try:
            self.outbox.append(now_s, st.seq, energy_wh, 0, self.power_w, min(max(0, st.credit_wh), 0xFFFFFFFF),
                               depletion_s)
        except OSError as err:
            # The next reading carries the cumulative counters: energy totals stay whole.
            print("flash full: reading %d not stored: %r" % (st.seq, err))
        self.save()
        self.outbox.release()  # a full pack was signed, or a merge re-signed one
        self.readings += 1
        interval = self.settings.interval_s
        self.next_reading_s = (now_s // interval + 1) * interval
        print("reading seq %d energy %d Wh power %d W credit %d Wh" % (st.seq, energy_wh, self.power_w, st.credit_wh))

    def network(self, probe):
        """One phase with the gateway: close and sign what is open (while it answers), send, then check downlinks."""
        box = self.outbox
        if self.online and box.open_count:
            box.close_pack()
        # A probe before closing a pack for a gateway that was offline: a pack once sent keeps its bytes, so closing a
        # few readings for a gateway that is down would keep them out of the full pack they could go in later.
        keyed = self.settings.gateway_key is not None
        if not self.online and box.open_count and not box.packs and not keyed:
            box.close_pack()
        downlinks = self._link(probe or (keyed and not self.online and not box.packs))
        if self.online and box.open_count and not box.packs:
            box.close_pack()  # the probe found the gateway back
            downlinks += self._link(False)
        if downlinks:
            self._check(downlinks)

    def _link(self, probe):
        self.outbox.release()  # no signing while CoAP is loaded: packs go from flash as they are stored
        gc.collect()
        # CoAP's transmit buffer first, then the code: the phase's one large piece has the pick of the heap.
        buffer = bytearray(COAP_BUFFER_SIZE)
        from meter import link

        try:
            return link.run(self, probe, buffer)
        finally:
            unload("link")
            unload("coap")
            self.outbox.release()

    def _check(self, downlinks):
        # Read, then the signatures checked, then applied: downlink.py and the Ed25519 code are never loaded together.
        gc.collect()
        from meter import downlink

        try:
            claims = downlink.read(downlinks, self.settings.kid)
        finally:
            unload("downlink")
        downlink = None  # the module's last reference: its code goes now, not when this method returns
        downlinks.clear()  # the messages as fetched: only the claims are needed now
        check_signatures(claims, self.settings.gateway_key, self.outbox.table_path)
        gc.collect()
        from meter import downlink

        try:
            downlink.apply(self, claims)
        finally:
            unload("downlink")
        self.save()
        self.enforce()
        self.update_forecast(self.clock.now_s())

    # --- the depletion forecast -----------------------------------------------------------------------------

    def _local_hour(self, now_s):
        return (now_s + self.settings.utc_offset_s) // 3600 if now_s >= _TIME_VALID_S else None

    def hourly(self, now_s):
        """At the start of each local hour, and once after a history restored at boot: forecast.hour_ended (loaded
        for it and unloaded after) records the hour that ended, keeps the history on flash and runs the model."""
        hour = self._local_hour(now_s)
        if hour is None:
            return
        if self.hour is None:
            self.hour = (hour, self.energy_wh())  # the hour the meter booted in: seen in part only, not recorded
            self.hour_seen = False
            return
        if hour == self.hour[0] and not self.model_due:
            return
        gc.collect()
        from meter import forecast

        try:
            forecast.hour_ended(self, hour)
        finally:
            unload("trees")
            unload("forecast")
            gc.collect()
        self.update_forecast(now_s)

    def update_forecast(self, now_s):
        """Hours until the credit runs out, from the predictions (cheap: no model run); alert level, with hysteresis."""
        st = self.state
        if st.payg_off or self._local_hour(now_s) is None:
            hours = None
        elif st.credit_wh <= 0:
            hours = 0.0
        elif self.predicted is not None:
            hours = depletion.walk(st.credit_wh, self.predicted, (now_s + self.settings.utc_offset_s) % 3600 // 60)
        else:
            hours = depletion.naive_hours(st.credit_wh, self.recent[0], self.recent[1])
        self.hours_left = hours
        level = depletion.alert_level(hours, self.forecast_level)
        if level != self.forecast_level:
            self.forecast_level = level
            print("forecast: alert %s, %s" % (depletion.ALERT_TEXT[level],
                                             "no forecast" if hours is None else "%d h left" % hours))
        return hours
