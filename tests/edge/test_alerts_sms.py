"""Low-credit SMS from the meter's own forecast, through a simulated SMS centre that fails like a real one."""

import doctest

import pytest
from nacl.signing import SigningKey

import edge.alerts
from edge.alerts import scan
from edge.app import open_database
from edge.meters import MeterCreate, register_meter
from edge.readings import AcceptedMessage, store_batch
from edge.sms import SimulatedSmsCentre, SmsError, deliver_due, enqueue
from enerlectra.senml import Reading

PHONE = "+260971234567"


@pytest.fixture
def engine(tmp_path):
    engine = open_database(tmp_path / "g.db")
    register_meter(engine, MeterCreate("house-1", "a1", bytes(SigningKey.generate().verify_key).hex(), PHONE))
    yield engine
    engine.dispose()


def report(engine, seq: int, depletion_h: float | None, credit_wh: int = 3000):
    depletion_s = None if depletion_h is None else int(depletion_h * 3600)
    reading = Reading(1_790_000_000 + seq * 60, seq, 100, 0, 300, credit_wh, depletion_s)
    store_batch(engine, [AcceptedMessage("house-1", b"raw%d" % seq, f"d{seq}", [reading], 0)])


def test_one_sms_per_threshold_crossed_not_one_per_reading(engine):
    centre = SimulatedSmsCentre()
    for seq, hours in enumerate([40, 30, 23, 22, 20, 5.5, 5, 6.5, 4], start=1):
        report(engine, seq, hours)
        scan(engine)
        deliver_due(engine, centre, now_s=seq)
    assert [text for _, text in centre.delivered] == [
        "Enerlectra: meter house-1 has about 23 h of credit left (3.0 kWh). Dial *384*1# to buy more.",
        "Enerlectra: meter house-1 has about 5 h of credit left (3.0 kWh). Dial *384*1# to buy more.",
    ]
    assert {phone for phone, _ in centre.delivered} == {PHONE}


def test_after_a_top_up_clears_the_alert_a_new_crossing_alerts_again(engine):
    centre = SimulatedSmsCentre()
    for seq, hours in enumerate([5, 50, 5], start=1):
        report(engine, seq, hours)
        scan(engine)
    deliver_due(engine, centre, now_s=0)
    assert len(centre.delivered) == 2


def test_no_forecast_no_alert(engine):
    report(engine, 1, None)
    assert scan(engine) == 0


def test_temporary_failures_are_retried_with_back_off_and_permanent_ones_stop(engine):
    flaky = SimulatedSmsCentre(temporary_failure_rate=1.0)
    enqueue(engine, PHONE, "hello", "k1")
    first = deliver_due(engine, flaky, now_s=0)
    assert (first.sent, first.retrying) == (0, 1)
    assert deliver_due(engine, flaky, now_s=10).retrying == 0  # not due yet: back-off of 30 s
    healthy = SimulatedSmsCentre()
    assert deliver_due(engine, healthy, now_s=31).sent == 1
    assert healthy.delivered == [(PHONE, "hello")]

    dead = SimulatedSmsCentre(unallocated={"+260960000000"})
    enqueue(engine, "+260960000000", "hello", "k2")
    assert deliver_due(engine, dead, now_s=100).failed == 1
    assert deliver_due(engine, dead, now_s=10_000) == deliver_due(engine, dead, now_s=10_000)  # nothing left


def test_throttled_centre_delivers_the_rest_later(engine):
    centre = SimulatedSmsCentre(messages_per_second=3)
    for n in range(5):
        enqueue(engine, PHONE, f"m{n}", f"k{n}")
    assert deliver_due(engine, centre, now_s=0).sent == 3
    assert deliver_due(engine, centre, now_s=60).sent == 2
    assert [text for _, text in centre.delivered] == ["m0", "m1", "m2", "m3", "m4"]


@pytest.mark.parametrize("phone, text, reason", [("+254712345678", "hi", r"\+260"), (PHONE, "x" * 161, "160"),
                                                 (PHONE, "", "1 to 160")])
def test_bad_sms_is_refused_and_not_queued(engine, phone, text, reason):
    with pytest.raises(SmsError, match=reason):
        enqueue(engine, phone, text, "k")
    assert deliver_due(engine, SimulatedSmsCentre(), now_s=0).sent == 0


def test_same_key_is_queued_once(engine):
    assert enqueue(engine, PHONE, "hi", "k") is True
    assert enqueue(engine, PHONE, "hi", "k") is False


def test_alert_level_examples():
    assert doctest.testmod(edge.alerts).failed == 0
