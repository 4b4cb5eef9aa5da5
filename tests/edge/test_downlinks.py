"""CoAP GET /t and GET /g (docs/downlink.md) over real aiocoap on loopback, against a real SQLite gateway."""

import time

import aiocoap
import cbor2
import pytest
from nacl.signing import SigningKey

from edge.app import open_database
from edge.coap_site import build_site
from edge.grants import issue_grant
from edge.ingest import IngestService
from edge.meters import MeterCreate, register_meter
from enerlectra.downlink import CreditGrant, TimeSync, decode_downlink
from tests.edge.conftest import free_udp_port

GATEWAY_KEY = SigningKey(bytes(range(32)))
KID = bytes.fromhex("a1b2c3d4e5f60708")


@pytest.fixture
async def site(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    register_meter(engine, MeterCreate("house-1", KID.hex(), bytes(SigningKey.generate().verify_key).hex(),
                                       "+260971234567"))
    ingest = IngestService(engine)
    await ingest.start()
    port = free_udp_port()
    server = await aiocoap.Context.create_server_context(build_site(ingest, GATEWAY_KEY, engine),
                                                         bind=("127.0.0.1", port))
    client = await aiocoap.Context.create_client_context()

    async def get(path: str) -> aiocoap.Message:
        return await client.request(aiocoap.Message(code=aiocoap.GET, uri=f"coap://127.0.0.1:{port}/{path}")).response

    try:
        yield engine, get
    finally:
        await client.shutdown()
        await server.shutdown()
        await ingest.stop()
        engine.dispose()


async def test_time_is_signed_for_the_meter_and_echoes_its_nonce(site):
    _, get = site
    before = int(time.time())
    response = await get(f"t?k={KID.hex()}&n=0011223344556677")
    assert response.code == aiocoap.CONTENT
    assert response.opt.content_format == 18
    sync = decode_downlink(response.payload, GATEWAY_KEY.verify_key, KID)
    assert isinstance(sync, TimeSync)
    assert sync.nonce == bytes.fromhex("0011223344556677")
    assert before <= sync.now_s <= int(time.time())


async def test_grants_come_oldest_first_above_the_last_applied(site):
    engine, get = site
    for number, credit_wh in enumerate((5000, 2000, 700), start=1):
        issue_grant(engine, GATEWAY_KEY, "house-1", credit_wh, f"purchase-{number}")
    response = await get(f"g?k={KID.hex()}&after=1")
    assert response.code == aiocoap.CONTENT
    assert response.opt.content_format == 60
    grants = [decode_downlink(signed, GATEWAY_KEY.verify_key, KID) for signed in cbor2.loads(response.payload)]
    assert [(grant.grant_id, grant.credit_wh) for grant in grants] == [(2, 2000), (3, 700)]
    assert all(isinstance(grant, CreditGrant) for grant in grants)
    empty = await get(f"g?k={KID.hex()}&after=3")
    assert (empty.code, empty.payload) == (aiocoap.CONTENT, b"\x80")


@pytest.mark.parametrize("path, code", [
    ("t?k=ffffffffffffffff&n=00", aiocoap.NOT_FOUND),  # no such meter
    ("g?k=ffffffffffffffff&after=0", aiocoap.NOT_FOUND),
    ("t?k=zz&n=00", aiocoap.BAD_REQUEST),  # kid not hex
    (f"t?k={KID.hex()}", aiocoap.BAD_REQUEST),  # no nonce
    (f"t?k={KID.hex()}&n={'00' * 17}", aiocoap.BAD_REQUEST),  # nonce too long
    (f"g?k={KID.hex()}", aiocoap.BAD_REQUEST),  # no `after`
    (f"g?k={KID.hex()}&after=-1", aiocoap.BAD_REQUEST),
    (f"g?k={KID.hex()}&after={2**60}", aiocoap.BAD_REQUEST),
    ("g?after=0", aiocoap.BAD_REQUEST),  # no kid
])
async def test_malformed_or_unknown_downlink_requests_are_refused(site, path, code):
    _, get = site
    response = await get(path)
    assert response.code == code
    assert response.payload  # a one-line reason


async def test_without_a_gateway_key_there_are_no_downlink_resources(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    ingest = IngestService(engine)
    links = str(build_site(ingest).get_resources_as_linkheader())
    assert "</r>" in links
    assert "</t>" not in links
    assert "</g>" not in links
    assert "</t>" in str(build_site(ingest, GATEWAY_KEY, engine).get_resources_as_linkheader())
    engine.dispose()
