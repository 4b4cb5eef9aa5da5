"""The cooperative's HTTP API as a client sees it: every endpoint, and every refusal as 400/404/409 with a detail
and a code, never a stack trace, with nothing written."""

import time

import pytest
from litestar.testing import TestClient

from edge.app import open_database
from edge.http_api import create_http_app
from edge.intervals import interval_at
from edge.limits import INTERVAL_S
from edge.orders import OrderCreate, place_order
from tests.edge.cooperative import GATEWAY_KEY, Cluster, interval


@pytest.fixture
def api(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    with TestClient(app=create_http_app(engine, gateway_key=GATEWAY_KEY)) as client:
        client.cluster = Cluster(engine)
        yield client
    engine.dispose()


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code and body["detail"], body
    assert "Traceback" not in response.text
    return body


def funded_member(api, ngwee: int = 50_000, phone: str = "0971000001") -> int:
    member_id = api.post("/api/members", json={"phone": phone, "name": "Mutale"}).json()["member_id"]
    if not ngwee:
        return member_id
    pending = api.post("/api/mobile-money/deposits", json={"member_id": member_id, "amount_ngwee": ngwee}).json()
    assert pending["state"] == "pending"
    done = api.post("/api/mobile-money/callback", json={"reference": pending["reference"], "status": "succeeded"})
    assert done.json()["state"] == "succeeded"
    return member_id


def test_members_wallets_and_contributions(api):
    created = api.post("/api/members", json={"phone": "097 100 0001", "name": "Mutale"})
    assert created.status_code == 201
    member = created.json()
    assert (member["phone"], member["share_ngwee"]) == ("+260971000001", 0)
    refused(api.post("/api/members", json={"phone": "+260971000001"}), 409, "phone_already_registered")
    refused(api.post("/api/members", json={"phone": "+254712345678"}), 400, "phone_invalid")
    refused(api.post("/api/members", json={"phone": "09710"}), 400, "phone_invalid")
    refused(api.get("/api/members/42"), 404, "member_not_found")
    refused(api.get("/api/members/by-phone/0979999999"), 404, "member_not_found")
    assert api.get("/api/members/by-phone/0971000001").json()["member_id"] == member["member_id"]
    assert len(api.get("/api/members").json()) == 1

    member_id = member["member_id"]
    refused(api.post(f"/api/members/{member_id}/contributions", json={"amount_ngwee": 300_000}), 409,
            "insufficient_funds")
    pending = api.post("/api/mobile-money/deposits", json={"member_id": member_id, "amount_ngwee": 400_000}).json()
    api.post("/api/mobile-money/callback", json={"reference": pending["reference"], "status": "succeeded"})
    asset = api.post("/api/cluster/assets", json={"name": "Roof array", "kind": "solar_array",
                                                  "cost_ngwee": 3_000_000, "rated_power_w": 5_000})
    assert asset.status_code == 201
    refused(api.post(f"/api/members/{member_id}/contributions", json={"amount_ngwee": 199_999}), 400,
            "amount_ngwee_too_small")
    refused(api.post(f"/api/members/{member_id}/contributions", json={"amount_ngwee": 500_001}), 400,
            "amount_ngwee_too_large")
    refused(api.post(f"/api/members/{member_id}/contributions", json={"amount_ngwee": 300_000, "asset_id": 9}), 404,
            "asset_not_found")
    made = api.post(f"/api/members/{member_id}/contributions",
                    json={"amount_ngwee": 300_000, "asset_id": asset.json()["asset_id"]})
    assert made.status_code == 201
    assert api.get(f"/api/members/{member_id}").json()["share_ngwee"] == 300_000
    wallet = api.get(f"/api/members/{member_id}/wallet").json()
    assert wallet["ngwee"] == {"unit": "ngwee", "balance": 100_000, "reserved": 0, "available": 100_000}
    assert api.get("/api/cluster/assets").json()[0]["contributed_ngwee"] == 300_000
    cluster = api.get("/api/cluster").json()
    assert (cluster["members_count"], cluster["shares_total_ngwee"], cluster["capacity_w"]) == (1, 300_000, 5_000)
    assert api.get("/api/cluster/wallets").json()[0]["member_id"] == member_id
    refused(api.post("/api/cluster/assets", json={"name": "x", "kind": "windmill", "cost_ngwee": 1}), 400,
            "kind_invalid")


def test_meter_links(api):
    member_id = funded_member(api)
    api.cluster.meter("m1", member_id, "consumer")
    refused(api.post("/api/cluster/meters", json={"meter_id": "ghost", "role": "consumer", "member_id": member_id}),
            404, "meter_not_found")
    refused(api.post("/api/cluster/meters", json={"meter_id": "m1", "role": "consumer", "member_id": member_id}),
            409, "meter_already_linked")
    refused(api.post("/api/cluster/meters", json={"meter_id": "m1", "role": "producer", "member_id": member_id}),
            400, "producer_has_no_member")
    refused(api.post("/api/cluster/meters", json={"meter_id": "m1", "role": "consumer"}), 400, "member_id_required")
    refused(api.post("/api/cluster/meters", json={"meter_id": "m1", "role": "boss"}), 400, "role_invalid")
    assert api.get("/api/cluster/meters").json() == [{"meter_id": "m1", "member_id": member_id, "role": "consumer"}]
    assert api.get(f"/api/members/{member_id}").json()["meters"] == ["m1"]


def test_mobile_money_errors(api):
    member_id = funded_member(api, 1_000)
    refused(api.post("/api/mobile-money/deposits", json={"member_id": 77, "amount_ngwee": 500}), 404,
            "member_not_found")
    refused(api.post("/api/mobile-money/deposits", json={"member_id": member_id, "amount_ngwee": -5}), 400,
            "amount_ngwee_too_small")
    refused(api.post("/api/mobile-money/withdrawals", json={"member_id": member_id, "amount_ngwee": 5_000}), 409,
            "insufficient_funds")
    refused(api.get("/api/mobile-money/mm-unknown"), 404, "reference_not_found")
    refused(api.post("/api/mobile-money/callback", json={"reference": "mm-x", "status": "ok"}), 400, "status_invalid")
    withdrawal = api.post("/api/mobile-money/withdrawals", json={"member_id": member_id, "amount_ngwee": 400})
    assert withdrawal.status_code == 202
    assert api.get(f"/api/members/{member_id}/wallet").json()["ngwee"]["available"] == 600


def order(member_id: int, side: str = "buy", energy_wh: int = 1_000, limit: int = 150, **extra) -> dict:
    return {"member_id": member_id, "side": side, "energy_wh": energy_wh, "limit_price_ngwee_per_kwh": limit} | extra


def test_orders_refusals(api):
    buyer = funded_member(api, 1_000)
    placed = api.post("/api/orders", json=order(buyer, energy_wh=2_000, limit=150))
    assert placed.status_code == 201
    assert placed.json()["reserved"] == 300
    refused(api.post("/api/orders", json=order(buyer, "sell", 100, 100)), 409, "trade_with_self")
    refused(api.post("/api/orders", json=order(buyer, energy_wh=10_000, limit=150)), 409, "insufficient_funds")
    refused(api.post("/api/orders", json=order(buyer, "sell", 100, 200)), 409, "insufficient_funds")
    refused(api.post("/api/orders", json=order(999)), 404, "member_not_found")
    refused(api.post("/api/orders", json=order(buyer, "hold")), 400, "side_invalid")
    refused(api.post("/api/orders", json=order(buyer, energy_wh=0)), 400, "energy_wh_must_be_positive")
    refused(api.post("/api/orders", json=order(buyer, energy_wh=-10)), 400, "energy_wh_must_be_positive")
    refused(api.post("/api/orders", json=order(buyer, energy_wh=10**9)), 400, "energy_wh_too_large")
    refused(api.post("/api/orders", json=order(buyer, limit=0)), 400, "limit_price_ngwee_per_kwh_must_be_positive")
    refused(api.post("/api/orders", json=order(buyer, limit=10**7)), 400, "limit_price_ngwee_per_kwh_too_large")
    refused(api.post("/api/orders", json=order(buyer, max_cost_ngwee=0)), 400, "max_cost_ngwee_must_be_positive")
    refused(api.post("/api/orders", json=order(buyer, limit=2_000, max_cost_ngwee=1, energy_wh=3)), 400,
            "max_cost_too_small")
    refused(api.post("/api/orders", json=order(buyer, "sell", max_cost_ngwee=5)), 400, "max_cost_only_for_bids")
    refused(api.post("/api/orders", json=order(buyer, intervals_count=97)), 400, "intervals_count_too_large")
    now = int(time.time())
    refused(api.post("/api/orders", json=order(buyer, execute_at_s=now - 10)), 400, "execute_at_s_in_the_past")
    refused(api.post("/api/orders", json=order(buyer, execute_at_s=now + 31 * 86_400)), 400, "execute_at_s_too_far")
    bad_type = api.post("/api/orders", json=order(buyer, energy_wh=1.5))
    assert bad_type.status_code == 400 and "Traceback" not in bad_type.text
    assert len(api.get("/api/orders", params={"member_id": buyer}).json()) == 1
    refused(api.get("/api/orders", params={"state": "weird"}), 400, "state_invalid")
    refused(api.get("/api/orders/123"), 404, "order_not_found")
    refused(api.delete("/api/orders/123"), 404, "order_not_found")
    order_id = placed.json()["order_id"]
    refused(api.delete(f"/api/orders/{order_id}", params={"member_id": buyer + 1}), 404, "order_not_found")
    assert api.delete(f"/api/orders/{order_id}").json()["state"] == "cancelled"
    refused(api.delete(f"/api/orders/{order_id}"), 409, "order_not_active")
    assert api.get(f"/api/members/{buyer}/wallet").json()["ngwee"]["reserved"] == 0


def test_scheduled_trade_is_listed_and_cancellable(api):
    buyer = funded_member(api, 1_000)
    when = int(time.time()) + 3 * 86_400
    scheduled = api.post("/api/orders", json=order(buyer, execute_at_s=when, max_cost_ngwee=100)).json()
    assert scheduled["state"] == "scheduled" and scheduled["reserved"] == 0
    assert scheduled["first_interval_id"] == interval_at(when).interval_id
    assert api.get("/api/orders", params={"state": "scheduled"}).json()[0]["order_id"] == scheduled["order_id"]
    assert api.delete(f"/api/orders/{scheduled['order_id']}").json()["state"] == "cancelled"


def test_bulk_orders_report_each_result_and_refuse_over_50(api):
    buyer = funded_member(api, 1_000)
    results = api.post("/api/orders/bulk", json={"orders": [order(buyer, energy_wh=1_000), order(buyer, limit=-1),
                                                            order(buyer, energy_wh=100_000)]})
    assert results.status_code == 200
    assert [(r["ok"], r["code"]) for r in results.json()] == [(True, None),
                                                              (False, "limit_price_ngwee_per_kwh_must_be_positive"),
                                                              (False, "insufficient_funds")]
    refused(api.post("/api/orders/bulk", json={"orders": [order(buyer, energy_wh=1)] * 51}), 400, "bulk_too_large")
    refused(api.post("/api/orders/bulk", json={"orders": []}), 400, "bulk_empty")
    assert len(api.get("/api/orders").json()) == 1


def test_prepaid_endpoints(api):
    member_id = funded_member(api, 10_000)
    api.cluster.meter("m1", member_id, "consumer")
    bought = api.post("/api/prepaid/purchases", json={"member_id": member_id, "meter_id": "m1", "energy_wh": 1_000})
    assert bought.status_code == 201 and bought.json()["grant_id"] == 1
    key = bought.json()["purchase_key"]
    assert api.get(f"/api/prepaid/purchases/{key}").json() == bought.json()
    assert api.get(f"/api/members/{member_id}/purchases").json()[0]["purchase_key"] == key
    refused(api.get("/api/prepaid/purchases/nope"), 404, "purchase_not_found")
    refused(api.post("/api/prepaid/purchases", json={"member_id": member_id, "meter_id": "m1", "energy_wh": 900_000}),
            409, "insufficient_funds")
    refused(api.post("/api/prepaid/openpaygo/ghost", json={}), 404, "meter_not_found")
    refused(api.post("/api/prepaid/openpaygo/m1", json={"secret_key_hex": "abc"}), 400, "secret_key_invalid")
    device = api.post("/api/prepaid/openpaygo/m1", json={}).json()
    assert len(device["secret_key_hex"]) == 32
    token = api.post("/api/prepaid/purchases", json={"member_id": member_id, "meter_id": "m1", "energy_wh": 500,
                                                     "delivery": "openpaygo"}).json()
    assert token["token"].isdigit() and len(token["token"]) == 9
    bulk = api.post("/api/prepaid/purchases/bulk", json={"purchases": [
        {"member_id": member_id, "meter_id": "m1", "energy_wh": 100},
        {"member_id": member_id, "meter_id": "nope", "energy_wh": 100}]})
    assert [(r["ok"], r["code"]) for r in bulk.json()] == [(True, None), (False, "meter_not_linked")]
    over = {"purchases": [{"member_id": member_id, "meter_id": "m1", "energy_wh": 100}] * 31}
    refused(api.post("/api/prepaid/purchases/bulk", json=over), 400, "bulk_too_large")


def test_without_the_gateway_key_credit_and_settlement_answer_503(tmp_path):
    engine = open_database(tmp_path / "keyless.db")
    with TestClient(app=create_http_app(engine)) as client:
        response = client.post("/api/prepaid/purchases", json={"member_id": 1, "meter_id": "m", "energy_wh": 1})
        assert response.status_code == 503 and "Traceback" not in response.text
        assert client.post("/api/settlements", json={}).status_code == 503
        assert client.get("/api/prices/current").status_code == 200
    engine.dispose()


def test_settlement_prices_trades_carbon_and_statement(api):
    seller = funded_member(api, 0, "0971000001")
    buyer = funded_member(api, 10_000, "0971000002")
    api.cluster.meter("m-seller", seller, "prosumer")
    api.cluster.meter("m-buyer", buyer, "consumer")
    now = int(time.time())
    current = interval_at(now)
    past = [interval(n) for n in range(2)]
    api.cluster.interval_readings(past[0], {"m-seller": (100, 1_100), "m-buyer": (0, 0)})
    api.cluster.interval_readings(past[1], {"m-seller": (0, 0), "m-buyer": (400, 0)})
    first = api.post("/api/settlements", json={"interval_id": past[0].interval_id})
    assert first.status_code == 200 and first.json()[0]["settled_now"]
    again = api.post("/api/settlements", json={"interval_id": past[0].interval_id}).json()[0]
    assert not again["settled_now"]
    # Orders placed over HTTP stand in the interval now running; these two stand in a past one to be settled.
    place_order(api.cluster.engine, OrderCreate(seller, "sell", 1_000, 100), now_s=past[1].start_s)
    place_order(api.cluster.engine, OrderCreate(buyer, "buy", 1_000, 140), now_s=past[1].start_s)
    refused(api.post("/api/settlements", json={"interval_id": "yesterday"}), 400, "interval_id_invalid")
    refused(api.post("/api/settlements", json={"interval_id": current.interval_id}), 409, "interval_not_over")
    refused(api.get(f"/api/settlements/{past[1].interval_id[:-4]}"), 404, "interval_not_settled")
    settled = api.post("/api/settlements", json={}).json()  # everything due: up to the last completed interval
    assert settled[-1]["interval_id"] == interval_at(now - INTERVAL_S).interval_id
    assert any(result["trades_count"] == 1 for result in settled)
    trades = api.get("/api/trades", params={"member_id": buyer}).json()
    assert [(t["seller_member_id"], t["energy_wh"]) for t in trades] == [(seller, 1_000)]
    assert api.get("/api/trades", params={"interval_id": past[0].interval_id}).json() == []
    refused(api.get("/api/trades", params={"member_id": 99}), 404, "member_not_found")
    history = api.get("/api/prices/history", params={"limit": 3}).json()
    assert len(history) == 3
    current_price = api.get("/api/prices/current").json()
    assert current_price["interval_id"] == settled[-1]["interval_id"]
    assert current_price["trend"] in ("rising", "falling", "stable")
    assert api.get(f"/api/settlements/{past[0].interval_id[:-4]}").json()["interval_id"] == past[0].interval_id
    assert len(api.get("/api/settlements", params={"limit": 5}).json()) == 5
    carbon = api.get(f"/api/members/{buyer}/carbon").json()
    assert carbon["renewable_wh"] == 1_000 and carbon["co2_grams_avoided"] == 800
    assert api.get("/api/cluster/carbon").json()["renewable_wh"] >= 1_100
    statement = api.get(f"/api/members/{seller}/statement").json()
    assert sum(line["sold_wh"] for line in statement) == 1_000
    paths = api.get("/schema/openapi.json").json()["paths"]
    for path in ("/api/members", "/api/orders/bulk", "/api/prepaid/purchases", "/api/prices/current",
                 "/api/settlements", "/api/members/{member_id}/carbon", "/api/mobile-money/callback"):
        assert path in paths


def test_ussd_shows_the_price_and_the_wallet(tmp_path):
    from edge.ussd_market import MARKET_USSD_ITEMS

    engine = open_database(tmp_path / "ussd.db")
    with TestClient(app=create_http_app(engine, ussd_items=MARKET_USSD_ITEMS, gateway_key=GATEWAY_KEY)) as client:
        Cluster(engine).member(deposit_ngwee=1_234)

        def dial(text: str, phone: str = "+260970000001") -> str:
            form = {"sessionId": "s", "serviceCode": "*123#", "phoneNumber": phone, "text": text}
            return client.post("/ussd", data=form).text

        assert "Energy price" in dial("") and "My wallet" in dial("")
        assert dial("2").startswith("END Energy price now: 1.20 ZMW/kWh")
        assert "ZMW 12.34" in dial("3")
        assert "not a member" in dial("3", "+260979999999")
    engine.dispose()
