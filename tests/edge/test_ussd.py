"""USSD as a household on a basic phone sees it: the aggregator's form callback, CON/END screens ≤ 182 chars."""

import pytest
from litestar.testing import TestClient
from nacl.signing import SigningKey

from edge.app import open_database
from edge.http_api import create_http_app
from edge.meters import MeterCreate, register_meter
from edge.readings import AcceptedMessage, store_batch
from edge.ussd import SCREEN_CHARS_MAX, duration_text
from enerlectra.senml import Reading

PHONE = "+260971234567"


@pytest.fixture
def phone_session(tmp_path):
    engine = open_database(tmp_path / "g.db")
    register_meter(engine, MeterCreate("house-1", "a1", bytes(SigningKey.generate().verify_key).hex(), PHONE))
    with TestClient(app=create_http_app(engine)) as client:

        def dial(text: str, phone: str = PHONE) -> str:
            response = client.post("/ussd", data={"sessionId": "ATUid_1", "serviceCode": "*384*1#",
                                                  "phoneNumber": phone, "text": text})
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            assert len(response.text) <= SCREEN_CHARS_MAX
            return response.text

        dial.engine = engine
        yield dial
    engine.dispose()


def test_first_screen_is_the_menu(phone_session):
    assert phone_session("").startswith("CON Enerlectra\n1. Credit left")


def test_credit_screen_shows_kwh_and_the_meters_own_forecast(phone_session):
    assert phone_session("1") == "END Credit\nhouse-1: no reading yet"
    reading = Reading(1_790_000_000, 1, 100, 0, 300, 4250, depletion_s=30 * 3600 + 100)
    store_batch(phone_session.engine, [AcceptedMessage("house-1", b"raw", "d1", [reading], 0)])
    assert phone_session("1") == "END Credit\nhouse-1: 4.2 kWh, about 1 day 6 h left"


@pytest.mark.parametrize("text", ["7", "x", "0", "1x"])
def test_unknown_choice_ends_politely(phone_session, text):
    assert phone_session(text).startswith("END Unknown choice")


def test_unregistered_and_foreign_numbers(phone_session):
    assert phone_session("1", phone="+260960000000") == "END No meter is registered to this number."
    assert phone_session("1", phone="+254712345678").startswith("END This service is for Zambian numbers")


@pytest.mark.parametrize("seconds, text", [(0, "less than 1 h"), (3599, "less than 1 h"), (5 * 3600, "about 5 h"),
                                           (48 * 3600, "about 2 days"), (49 * 3600, "about 2 days 1 h")])
def test_duration_reads_at_a_glance(seconds, text):
    assert duration_text(seconds) == text
