"""A running gateway on loopback (real aiocoap UDP sockets, real SQLite file) and meters registered with it."""

import socket
from dataclasses import dataclass

import aiocoap
import pytest
from nacl.signing import SigningKey
from sqlmodel import Session, func, select

from edge.app import open_database
from edge.coap_site import build_site
from edge.ingest import IngestService
from edge.meters import MeterCreate, find_meter, register_meter
from edge.readings import SignedMessage, StoredReading
from enerlectra.cose import sign1
from enerlectra.senml import Reading, encode_readings


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class TestMeter:
    meter_id: str
    kid: bytes
    key: SigningKey

    def message(self, *readings: Reading) -> bytes:
        return sign1(encode_readings(self.kid, list(readings)), self.key, self.kid)

    def reading(self, seq: int, energy_wh: int = 1000, time_s: int = 1_790_000_000) -> Reading:
        return Reading(time_s=time_s + 60 * seq, seq=seq, energy_wh=energy_wh, energy_out_wh=0, power_w=400,
                       credit_wh=5000)


@dataclass
class Gateway:
    engine: object
    ingest: IngestService
    uri: str
    client: aiocoap.Context

    async def post(self, payload: bytes, content_format: int | None = 18, path: str = "r") -> aiocoap.Message:
        request = aiocoap.Message(code=aiocoap.POST, uri=f"{self.uri}/{path}", payload=payload)
        if content_format is not None:
            request.opt.content_format = content_format
        return await self.client.request(request).response

    def stored(self) -> tuple[int, int]:
        """(signed messages, readings) in the database."""
        with Session(self.engine) as session:
            messages = session.exec(select(func.count()).select_from(SignedMessage)).one()
            readings = session.exec(select(func.count()).select_from(StoredReading)).one()
            return messages, readings

    def meter(self, meter_id: str):
        return find_meter(self.engine, meter_id)

    def register(self, meter_id: str, kid: bytes) -> TestMeter:
        key = SigningKey.generate()
        register_meter(self.engine, MeterCreate(meter_id, kid.hex(), bytes(key.verify_key).hex(), "+260971234567"))
        return TestMeter(meter_id, kid, key)


@pytest.fixture
async def gateway(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    ingest = IngestService(engine)
    await ingest.start()
    port = free_udp_port()
    server = await aiocoap.Context.create_server_context(build_site(ingest), bind=("127.0.0.1", port))
    client = await aiocoap.Context.create_client_context()
    try:
        yield Gateway(engine, ingest, f"coap://127.0.0.1:{port}", client)
    finally:
        await client.shutdown()
        await server.shutdown()
        await ingest.stop()
        engine.dispose()
