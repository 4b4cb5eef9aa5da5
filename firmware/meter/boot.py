"""Boot: everything the meter does once at start, in a module that unloads itself (and config, board loader and
outbox recovery) before the main loop runs, so that none of it holds RAM afterwards.

start() -> a device.Device, ready to run():
1. config.json (config.bak if damaged; without either the meter keeps its supply as it was and waits for a new
   config: it cannot sign without its identity), board.json;
2. the persisted state (meter/state.py): on first boot the provisioned credit; when both copies are corrupt,
   counters and credit from the newest reading in the outbox, and grants and tokens re-synchronised;
3. the outbox, cleaned of what a power cut left (meter/outbox_fix.py); the sequence number continues above the
   highest one stored;
4. the clock never behind the last time the meter knew; relay set; the signing table checked; network up.
Prints the boot banner the hardware tests wait for.
"""

import gc
import json
import os
import sys
import time

VERSION = "0.5.1"
_TABLE = "ed25519.tbl"
_MODEL = "models/depletion.csv"


def _board(settings, path):
    # board.json on flash (a copy of one of hardware/boards/*.json) -> the variant's Board: "esp32"
    # (meter/esp32board.py, real pins) or "virtual" (meter/simboard.py, the unix port). Without a board.json the
    # unix port runs as the default virtual board; a real board needs its pin map. ValueError names the problem.
    try:
        with open(path) as handle:
            spec = json.load(handle)
    except OSError:
        spec = None
    except ValueError:
        raise ValueError("board: " + path + " is not JSON")
    if spec is None:
        if sys.platform != "linux":
            raise ValueError("board: " + path + " not found (copy a pin map from hardware/boards/)")
        spec = {"variant": "virtual"}
    if not isinstance(spec, dict):
        raise ValueError("board: must be a JSON object")
    variant = spec.get("variant", "virtual")
    if variant == "virtual":
        from meter import simboard as module
    elif variant == "esp32":
        from meter import esp32board as module
    else:
        raise ValueError("board: unknown variant " + str(variant))
    try:
        return module.Board(spec, settings)
    except (KeyError, TypeError) as err:
        raise ValueError("board: missing or wrong entry " + repr(err))


def _config():
    from meter import config

    settings = config.recover()
    try:
        board = _board(settings, "board.json")
    except ValueError as err:
        print("cannot start:", err)
        sys.exit(2)
    if settings is None:
        from meter import state

        print("config: no usable config.json or config.bak; waiting for a new one (tools/provision.py)")
        saved = state.State()
        saved.load()
        board.relay.set(not saved.relay_open)
        while settings is None:
            time.sleep(1)
            board.feed()
            settings = config.recover()
    return settings, board


def _restore(device):
    from meter import outbox_fix

    settings, st, board = device.settings, device.state, device.board
    found = st.load()
    outbox_fix.recover(device.outbox)
    if not found and not st.lost:
        st.credit_wh = settings.credit_wh
        print("state: new meter; credit %d Wh" % st.credit_wh)
    elif not found:
        newest = outbox_fix.newest(device.outbox)
        if newest is None:
            print("state: lost; nothing to restore it from; credit 0 Wh")
        else:
            st.time_s, st.seq, energy_wh = newest[0], newest[1], newest[2]
            st.pulses = (energy_wh * board.imp_per_kwh + 999) // 1000
            st.charged_wh = energy_wh
            st.credit_wh = newest[5]
            print("state: lost; restored from reading %d credit %d Wh" % (st.seq, st.credit_wh))
        # Grants and tokens applied before cannot be told from new ones any more: see meter/state.py.
        st.grant_resync = True
        st.token_resync = True
    if found and device.outbox.last_seq > st.seq:
        # The power went after a reading was stored and before the state was: the reading is the newer truth.
        newest = outbox_fix.newest(device.outbox)
        energy_wh = newest[2]
        st.credit_wh -= max(0, energy_wh - st.charged_wh)
        st.charged_wh = energy_wh
        st.pulses = (energy_wh * board.imp_per_kwh + 999) // 1000
        st.time_s = max(st.time_s, newest[0])
        print("state: behind the outbox; counters taken from reading %d" % newest[1])
    st.seq = max(st.seq, device.outbox.last_seq)
    device.pulses_base = st.pulses
    device.save()


def _read_history():
    # The forecast's history kept on flash: (History.dump() bytes, (hours, Wh) of the trailing day, the hour in
    # progress, its starting Wh, hours recorded), or None. Read before the loop's modules are loaded, so that
    # forecast.py comes and goes in a heap still empty. A damaged file is reported and the meter starts afresh.
    from meter import flash, unload

    data = flash.read("history")  # forecast.HISTORY_FILE: forecast.py is loaded only when there is one
    if data is None:
        return None
    from meter import forecast

    try:
        history, started, start_wh = forecast.from_file(data)
    except ValueError as err:
        print("forecast: history unreadable (%s); starting with none" % err)
        return None
    finally:
        unload("forecast")
    return history.dump(), (min(history.count, 24), history.total(24)), started, start_wh, history.count


def _restore_history(device, model_path, history):
    device.model_path = model_path
    if history is None:
        return
    device.history, device.recent, started, start_wh, count = history
    # The hour in progress goes on; its energy counted before the reboot counts (the counter is persisted).
    device.hour = (started, min(start_wh, device.energy_wh()))
    device.hour_restored = True
    print("forecast: history of %d hours restored" % count)
    device.model_due = True  # in the main loop, not in the boot's heap


def _model_path():
    # The depletion model (docs/forecasting.md): on the flash beside the firmware, or where the firmware was
    # loaded from (the virtual board runs it from a build folder); absolute, in case a data file system is mounted.
    for folder in [os.getcwd()] + sys.path:
        path = (folder or ".").rstrip("/") + "/" + _MODEL
        try:
            os.stat(path)
        except OSError:
            continue
        return path if path.startswith("/") else os.getcwd().rstrip("/") + "/" + path
    print("forecast: no model file; naive forecast only")
    return None


def start():
    from meter import crypto_release, unload

    table_path = os.getcwd().rstrip("/") + "/" + _TABLE  # before a board mounts a data file system
    model_path = _model_path()
    settings, board = _config()
    unload("config")
    history = _read_history()
    # The table check needs the Ed25519 code; done before the rest is loaded, which keeps the boot's peak low.
    from meter import ed25519

    started = time.ticks_ms()
    built = ed25519.use_table(table_path)
    table_ms = time.ticks_diff(time.ticks_ms(), started)
    ed25519 = None
    crypto_release()  # closes the table file; the code is loaded again for each signature (meter.crypto)
    from meter import device as device_module

    device = device_module.Device(settings, board, table_path)
    # __file__ says where the code runs from: /rom/meter/boot.mpy from a ROM partition (docs/meter.md, "Memory").
    print("enerlectra meter %s booted; firmware %s (%s) board %s gateway %s %d" % (
        settings.meter_id, VERSION, __file__, board.name, settings.gateway, settings.port))
    print(("signing table built in %d ms" if built else "signing table ready in %d ms") % table_ms)
    _restore(device)
    unload("outbox_fix")
    device.outbox.release()
    _restore_history(device, model_path, history)
    history = None
    st = device.state
    if device.clock.now_s() < st.time_s:
        device.clock.set(st.time_s)
        print("clock: behind the last known time; set to %d" % st.time_s)
    board.relay.set(not st.relay_open)
    device.level = device.account.level()
    device.update_forecast(device.clock.now_s())  # the restored history's naive forecast until the model runs
    relay = "off" if st.relay_open else "on"
    print("credit %d Wh; relay %s; %s" % (st.credit_wh, relay, device_module.ALERTS[device.level]))
    print("outbox: %d readings in %d packs" % (device.outbox.count, device.outbox.packs))
    gc.collect()
    print("heap: %d bytes used, %d free" % (gc.mem_alloc(), gc.mem_free()))
    board.connect(settings)
    device.booted_ms = device.clock.ticks_ms()
    device.last_energy = (device.energy_wh(), device.clock.now_s())
    unload("boot")
    return device
