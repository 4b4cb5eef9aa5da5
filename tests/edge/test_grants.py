"""Credit grants: signed for the right meter, numbered, idempotent per purchase."""

import pytest
from nacl.signing import SigningKey

from edge.app import open_database
from edge.grants import GrantError, grants_after, issue_grant
from edge.meters import MeterCreate, register_meter
from enerlectra.downlink import CreditGrant, decode_downlink
from enerlectra.errors import SignatureError

GATEWAY = SigningKey(bytes(range(32)))


@pytest.fixture
def engine(tmp_path):
    engine = open_database(tmp_path / "g.db")
    register_meter(engine, MeterCreate("house-1", "a1", bytes(SigningKey.generate().verify_key).hex(),
                                       "+260971234567"))
    yield engine
    engine.dispose()


def test_grants_are_numbered_per_meter_signed_and_fetched_after_the_last_applied(engine):
    first = issue_grant(engine, GATEWAY, "house-1", 5000, "purchase-1")
    second = issue_grant(engine, GATEWAY, "house-1", 2000, "purchase-2")
    assert (first.grant_id, second.grant_id) == (1, 2)
    waiting = grants_after(engine, b"\xa1", 0)
    assert [decode_downlink(m, GATEWAY.verify_key, b"\xa1") for m in waiting] == [
        CreditGrant(b"\xa1", 1, 5000, decode_downlink(first.signed, GATEWAY.verify_key, b"\xa1").issued_at_s),
        CreditGrant(b"\xa1", 2, 2000, decode_downlink(second.signed, GATEWAY.verify_key, b"\xa1").issued_at_s),
    ]
    assert grants_after(engine, b"\xa1", 1) == [second.signed]
    assert grants_after(engine, b"\xa1", 2) == []
    assert grants_after(engine, b"\xee", 0) == []


def test_retried_purchase_returns_the_same_grant_and_credits_once(engine):
    first = issue_grant(engine, GATEWAY, "house-1", 5000, "purchase-1")
    again = issue_grant(engine, GATEWAY, "house-1", 5000, "purchase-1")
    assert again == first
    assert len(grants_after(engine, b"\xa1", 0)) == 1
    with pytest.raises(GrantError, match="other details"):
        issue_grant(engine, GATEWAY, "house-1", 9000, "purchase-1")


@pytest.mark.parametrize("meter_id, credit_wh, reason", [("nobody", 10, "no meter"), ("house-1", 0, "credit"),
                                                          ("house-1", 10**9, "credit")])
def test_bad_grant_is_refused_and_nothing_issued(engine, meter_id, credit_wh, reason):
    with pytest.raises(GrantError, match=reason):
        issue_grant(engine, GATEWAY, meter_id, credit_wh, "p")
    assert grants_after(engine, b"\xa1", 0) == []


def test_grant_signed_by_another_key_or_for_another_meter_is_refused(engine):
    signed = issue_grant(engine, GATEWAY, "house-1", 5000, "purchase-1").signed
    with pytest.raises(SignatureError):
        decode_downlink(signed, SigningKey.generate().verify_key, b"\xa1")
    with pytest.raises(ValueError, match="another meter"):
        decode_downlink(signed, GATEWAY.verify_key, b"\xb2")
