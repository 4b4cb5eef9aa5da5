"""The gateway's local HTTP API: meter registration and per-meter totals, with clear errors."""

import pytest
from litestar.testing import TestClient
from nacl.signing import SigningKey

from edge.app import open_database
from edge.http_api import create_http_app
from edge.readings import AcceptedMessage, store_batch
from enerlectra.senml import Reading

PUBLIC_KEY = bytes(SigningKey.generate().verify_key).hex()


@pytest.fixture
def api(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    with TestClient(app=create_http_app(engine)) as client:
        client.engine = engine
        yield client
    engine.dispose()


def register(api, **overrides):
    body = {"meter_id": "house-1", "kid": "a1", "public_key": PUBLIC_KEY, "phone": "+260971234567"} | overrides
    return api.post("/api/meters", json=body)


def test_registered_meter_shows_its_totals_after_readings_land(api):
    assert register(api, phone="097 123 4567").status_code == 201
    readings = [Reading(1_790_000_000 + 60 * n, n, 500 + n, 0, 300, 4000) for n in (1, 2, 3)]
    store_batch(api.engine, [AcceptedMessage("house-1", b"raw", "d1", readings, 0)])
    body = api.get("/api/meters/house-1").json()
    assert body["phone"] == "+260971234567"
    assert (body["last_seq"], body["readings"], body["energy_wh"]) == (3, 3, 503)
    latest = api.get("/api/meters/house-1/readings", params={"limit": 2}).json()
    assert [row["seq"] for row in latest] == [3, 2]


@pytest.mark.parametrize(
    "overrides, detail",
    [
        ({"phone": "+26097123456"}, "+260 followed by 9 digits"),
        ({"phone": "+254712345678"}, "+260 followed by 9 digits"),
        ({"kid": "zz"}, "kid must be hexadecimal"),
        ({"public_key": "ab" * 31}, "public key must be 32..32 bytes"),
        ({"meter_id": ""}, "meter id"),
    ],
)
def test_bad_registration_is_refused_with_reason_and_nothing_stored(api, overrides, detail):
    response = register(api, **overrides)
    assert response.status_code == 400
    assert detail in str(response.json())
    assert api.get("/api/meters").json() == []


def test_duplicate_meter_id_or_kid_is_refused(api):
    assert register(api).status_code == 201
    assert "meter id already registered" in register(api, kid="b2").text
    assert "kid already registered" in register(api, meter_id="house-2").text
    assert len(api.get("/api/meters").json()) == 1


def test_unknown_meter_is_404_and_openapi_is_published(api):
    assert api.get("/api/meters/nobody").status_code == 404
    schema = api.get("/schema/openapi.json").json()
    assert "/api/meters/{meter_id}" in schema["paths"]


def test_malformed_json_body_is_400_without_a_trace(api):
    response = api.post("/api/meters", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert "Traceback" not in response.text
