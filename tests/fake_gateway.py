"""A gateway the tests script: real aiocoap on loopback in a background thread, serving /r, /t and /g as
docs/downlink.md says, with answers a test can replace (refusals, 4.09, malformed or forged downlinks, replays,
silence). What it receives is checked with the gateway's own wire code (enerlectra.cose, enerlectra.senml).
"""

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import aiocoap
import cbor2
from aiocoap import resource
from nacl.signing import SigningKey

from enerlectra.cose import decode_sign1, verify_sign1
from enerlectra.downlink import CreditGrant, TimeSync, encode_grant, encode_time
from enerlectra.senml import Reading, parse_readings


class FakeGateway:
    def __init__(self, key: SigningKey | None = None):
        self.key = key or SigningKey.generate()
        self.meter_key = None  # the meter's VerifyKey, set by the test
        self.kid = b""
        self.packs: list[list[Reading]] = []  # accepted, in order
        self.raw: list[bytes] = []
        self.stored: dict[int, Reading] = {}  # seq -> reading: each stored once
        self.last_seq = 0
        self.grants: list[bytes] = []
        self.grant_polls: list[int] = []  # the `after` of each GET /g
        self.time_requests = 0
        self.now_s: Callable[[], int] = lambda: int(time.time())
        # Overrides: a callable (payload) -> aiocoap.Message, or None for the normal answer.
        self.on_post = None
        self.on_time = None  # (nonce) -> payload bytes
        self.on_grants = None  # (after) -> payload bytes
        self.silent = False  # swallow every request (a gateway that never answers)
        self.port = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._context = None

    # --- what a test uses ---------------------------------------------------------------------------------------

    def start(self) -> "FakeGateway":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._context is not None:
            asyncio.run_coroutine_threadsafe(self._context.shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def grant(self, grant_id: int, credit_wh: int) -> bytes:
        signed = encode_grant(CreditGrant(self.kid, grant_id, credit_wh, int(time.time())), self.key)
        self.grants.append(signed)
        return signed

    @property
    def public_key(self) -> bytes:
        return bytes(self.key.verify_key)

    # --- the server ------------------------------------------------------------------------------------------------

    async def _start(self):
        site = resource.Site()
        site.add_resource(["r"], _Handler(self._post))
        site.add_resource(["t"], _Handler(self._time))
        site.add_resource(["g"], _Handler(self._grants))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._context = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", self.port))

    def _post(self, request):
        if self.on_post is not None:
            answer = self.on_post(request.payload)
            if answer is not None:
                return answer
        readings = parse_readings(verify_sign1(decode_sign1(request.payload), self.meter_key), self.kid)
        if request.payload in self.raw:
            return aiocoap.Message(code=aiocoap.CHANGED)  # the same bytes again: acknowledged, stored once
        if readings[0].seq <= self.last_seq:
            return aiocoap.Message(code=aiocoap.CONFLICT, payload=(
                f"seq {readings[0].seq} already used; last accepted is {self.last_seq}").encode())
        self.raw.append(request.payload)
        self.packs.append(readings)
        for reading in readings:
            self.stored[reading.seq] = reading
        self.last_seq = readings[-1].seq
        return aiocoap.Message(code=aiocoap.CHANGED)

    def _query(self, request) -> dict:
        return dict(part.partition("=")[::2] for part in request.opt.uri_query)

    def _time(self, request):
        self.time_requests += 1
        nonce = bytes.fromhex(self._query(request)["n"])
        if self.on_time is not None:
            payload = self.on_time(nonce)
        else:
            payload = encode_time(TimeSync(self.kid, self.now_s(), nonce), self.key)
        return aiocoap.Message(payload=payload, content_format=18)

    def _grants(self, request):
        after = int(self._query(request)["after"])
        self.grant_polls.append(after)
        if self.on_grants is not None:
            payload = self.on_grants(after)
        else:
            payload = cbor2.dumps([g for g in self.grants
                                   if cbor2.loads(decode_sign1(g).payload)[2] > after][:8])
        return aiocoap.Message(payload=payload, content_format=60)


class _Handler(resource.Resource):
    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    async def _answer(self, request):
        gateway = self.handler.__self__
        if gateway.silent:
            await asyncio.sleep(3600)
        return self.handler(request)

    async def render_post(self, request):
        return await self._answer(request)

    async def render_get(self, request):
        return await self._answer(request)
