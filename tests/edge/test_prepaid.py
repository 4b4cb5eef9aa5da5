"""Prepaid credit: paid from a wallet, delivered as a signed grant the meter can verify, or as an OpenPAYGO token
its decoder accepts; retries never credit twice; refusals write nothing."""

import pytest
from openpaygo import TokenType, decode_token

from edge.app import open_database
from edge.errors import ConflictError, InvalidRequestError, NotFoundError
from edge.grants import grants_after
from edge.members import member_wallet
from edge.prepaid import PurchaseCreate, bulk_buy_credit, buy_credit, get_purchase, provision_openpaygo
from edge.settlement import settle_interval
from enerlectra.downlink import decode_downlink
from tests.edge.cooperative import GATEWAY_KEY, Cluster, assert_books_balance, interval


@pytest.fixture
def cluster(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    yield Cluster(engine)
    engine.dispose()


@pytest.fixture
def household(cluster):
    member_id = cluster.member(deposit_ngwee=10_000)
    cluster.meter("m1", member_id, "consumer")
    return member_id


def test_purchase_pays_at_the_current_price_and_issues_a_grant_the_meter_verifies(cluster, household):
    purchase = buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(household, "m1", 2_500))
    # Nothing settled yet: the reference price, 120 ngwee/kWh; 2.5 kWh cost 300 ngwee.
    assert (purchase.price_ngwee_per_kwh, purchase.cost_ngwee, purchase.grant_id) == (120, 300, 1)
    assert member_wallet(cluster.engine, household).ngwee.balance == 10_000 - 300
    [signed] = grants_after(cluster.engine, bytes.fromhex(cluster_kid("m1")), 0)
    grant = decode_downlink(signed, GATEWAY_KEY.verify_key, bytes.fromhex(cluster_kid("m1")))
    assert (grant.grant_id, grant.credit_wh) == (1, 2_500)
    assert get_purchase(cluster.engine, purchase.purchase_key) == purchase
    assert_books_balance(cluster.engine)


def cluster_kid(meter_id: str) -> str:
    import hashlib

    return hashlib.sha256(meter_id.encode()).hexdigest()[:16]


def test_price_rounds_up_and_follows_the_last_settled_interval(cluster, household):
    settle_interval(cluster.engine, interval(32), GATEWAY_KEY, now_s=interval(32).end_s)  # 18:00 Lusaka: 1.25×
    purchase = buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(household, "m1", 1_001))
    price = purchase.price_ngwee_per_kwh
    assert price != 120
    assert purchase.cost_ngwee == -(-1_001 * price // 1000)


def test_retry_with_the_same_request_key_credits_once(cluster, household):
    request = PurchaseCreate(household, "m1", 1_000, request_key="ussd-42")
    first = buy_credit(cluster.engine, GATEWAY_KEY, request)
    again = buy_credit(cluster.engine, GATEWAY_KEY, request)
    assert again == first
    assert member_wallet(cluster.engine, household).ngwee.balance == 10_000 - first.cost_ngwee
    assert len(grants_after(cluster.engine, bytes.fromhex(cluster_kid("m1")), 0)) == 1
    with pytest.raises(ConflictError) as reused:
        buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(household, "m1", 2_000, request_key="ussd-42"))
    assert reused.value.code == "request_key_reused"


def test_paying_from_the_kwh_wallet_moves_wh_only(cluster):
    member_id = cluster.member(contributions=(200_000,))
    cluster.meter("solar", None, "producer")
    cluster.meter("m2", member_id, "consumer")
    cluster.interval_readings(interval(0), {"solar": (0, 800), "m2": (600, 0)})
    settle_interval(cluster.engine, interval(0), GATEWAY_KEY, now_s=interval(0).end_s)
    purchase = buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(member_id, "m2", 500, pay_from="wh"))
    assert (purchase.cost_ngwee, purchase.price_ngwee_per_kwh) == (0, None)
    wallet = member_wallet(cluster.engine, member_id)
    assert (wallet.ngwee.balance, wallet.wh.balance) == (0, 100)
    assert_books_balance(cluster.engine)


def test_openpaygo_token_decodes_with_the_meters_secret_and_counts_up(cluster, household):
    device = provision_openpaygo(cluster.engine, "m1")
    assert len(bytes.fromhex(device.secret_key_hex)) == 16 and device.count == 0
    assert provision_openpaygo(cluster.engine, "m1", device.secret_key_hex) == device  # idempotent
    with pytest.raises(ConflictError):
        provision_openpaygo(cluster.engine, "m1", "00" * 16)
    counts = [device.count]
    for energy_wh in (1_500, 49_500):
        purchase = buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(household, "m1", energy_wh,
                                                                          delivery="openpaygo"))
        assert purchase.grant_id is None and len(purchase.token) == 9
        value, token_type, count, _used = decode_token(token=purchase.token, secret_key=device.secret_key_hex,
                                                       count=counts[-1])
        assert (value * 100, token_type, count > counts[-1]) == (energy_wh, TokenType.ADD_TIME, True)
        counts.append(count)


@pytest.mark.parametrize(
    ("request_fields", "error", "code"),
    [
        ({"member_id": 99}, NotFoundError, "member_not_found"),
        ({"meter_id": "nope"}, NotFoundError, "meter_not_linked"),
        ({"energy_wh": 0}, InvalidRequestError, "energy_wh_must_be_positive"),
        ({"energy_wh": -1}, InvalidRequestError, "energy_wh_must_be_positive"),
        ({"energy_wh": 10**9}, InvalidRequestError, "energy_wh_too_large"),
        ({"energy_wh": 1.5}, InvalidRequestError, "energy_wh_must_be_integer"),
        ({"energy_wh": 900_000}, ConflictError, "insufficient_funds"),
        ({"pay_from": "cash"}, InvalidRequestError, "purchase_option_invalid"),
        ({"delivery": "openpaygo", "energy_wh": 150}, InvalidRequestError, "token_amount_invalid"),
        ({"delivery": "openpaygo", "energy_wh": 100_000}, InvalidRequestError, "token_amount_invalid"),
        ({"delivery": "openpaygo", "energy_wh": 1_000}, ConflictError, "openpaygo_not_provisioned"),
        ({"pay_from": "wh"}, ConflictError, "insufficient_funds"),
    ],
)
def test_refused_purchases_write_nothing(cluster, household, request_fields, error, code):
    fields = {"member_id": household, "meter_id": "m1", "energy_wh": 1_000} | request_fields
    with pytest.raises(error) as refused:
        buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(**fields))
    assert refused.value.code == code
    assert member_wallet(cluster.engine, household).ngwee.balance == 10_000
    assert grants_after(cluster.engine, bytes.fromhex(cluster_kid("m1")), 0) == []


def test_a_meter_of_another_member_or_the_cluster_is_refused(cluster, household):
    other = cluster.member(deposit_ngwee=1_000)
    cluster.meter("solar", None, "producer")
    for meter_id in ("solar", "m1"):
        with pytest.raises(ConflictError) as refused:
            buy_credit(cluster.engine, GATEWAY_KEY, PurchaseCreate(other, meter_id, 100))
        assert refused.value.code == "meter_not_members"


def test_bulk_purchases_report_each_result_and_refuse_more_than_30(cluster, household):
    results = bulk_buy_credit(cluster.engine, GATEWAY_KEY, [
        PurchaseCreate(household, "m1", 1_000), PurchaseCreate(household, "m1", 10**8),
        PurchaseCreate(household, "m1", 2_000)])
    assert [(r.ok, r.code) for r in results] == [(True, None), (False, "energy_wh_too_large"), (True, None)]
    assert [r.purchase.grant_id for r in results if r.ok] == [1, 2]
    with pytest.raises(InvalidRequestError) as too_many:
        bulk_buy_credit(cluster.engine, GATEWAY_KEY, [PurchaseCreate(household, "m1", 100)] * 31)
    assert too_many.value.code == "bulk_too_large"
    assert len(grants_after(cluster.engine, bytes.fromhex(cluster_kid("m1")), 0)) == 2
