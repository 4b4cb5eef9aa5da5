"""The meter's CoAP client (firmware/meter/coap.py) run inside MicroPython against a real aiocoap server.

An aiocoap server and a UDP relay share one asyncio event loop in a background thread. Each test runs
a short script in a fresh micropython process (blocking) and then checks what the server application
and the relay saw. The relay sits between the meter and the server: it records every datagram, can
drop the first N in either direction, can swallow everything, or can answer in the server's place
with hand-made datagrams (built and parsed with aiocoap, an independent CoAP implementation).
"""

import asyncio
import hashlib
import inspect
import subprocess
import textwrap
import threading
import time

import aiocoap
import pytest
from aiocoap import error, resource
from aiocoap.numbers import ACK, CON, NON, RST, Unreliable
from aiocoap.optiontypes import OpaqueOption

from tests.conftest import FIRMWARE
from tools.firmware_build import mpy_cross

LOOPBACK = "127.0.0.1"
BIG_SIZE = 5000


def pattern(size, seed=0):
    return bytes((i * 31 + seed + (i >> 8)) & 0xFF for i in range(size))


# The same function in the meter's scripts, so payloads need not travel through the command line.
PATTERN_SOURCE = inspect.getsource(pattern)

# show() prints a response as its code and payload in hex, or a digest for a long payload (whose hex
# would need a 10 KB block of the meter's heap).
METER_SHOW = """
def show(result):
    code, payload = result
    if len(payload) > 256:
        payload = hashlib.sha256(payload).digest() + b"%d" % len(payload)
    print(code, binascii.hexlify(payload).decode())
"""
METER_PRELUDE = "import binascii, hashlib, time\nfrom meter import coap\n" + PATTERN_SOURCE + METER_SHOW


def shown(code, payload):
    """The line the meter script's show() prints for (code, payload)."""
    if len(payload) > 256:
        payload = hashlib.sha256(payload).digest() + b"%d" % len(payload)
    return f"{code} {payload.hex()}"


def run_meter(micropython, port, script, heapsize="64K", **client_options):
    """Runs `script` in MicroPython with `client` connected to `port`; returns stdout lines."""
    options = "".join(f", {name}={value!r}" for name, value in client_options.items())
    code = (
        METER_PRELUDE
        + f"client = coap.Client({LOOPBACK!r}, {port}{options})\n"
        + textwrap.dedent(script)
        + "client.close()\n"
    )
    return micropython.run(code, heapsize=heapsize).stdout.splitlines()


def wait_for(condition, timeout_s=5.0):
    """Datagrams the meter sent just before exiting may still be queued for the event loop."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


# --- the server ----------------------------------------------------------------------------------


class Readings(resource.Resource):
    """POST: records each request the application sees, after de-duplication and reassembly."""

    def __init__(self):
        super().__init__()
        self.requests = []

    async def render_post(self, request):
        self.requests.append((request.payload, request.opt.content_format, request.opt.uri_query))
        return aiocoap.Message(code=aiocoap.CHANGED, payload=b"stored %d" % len(request.payload))


class Big(resource.Resource):
    """GET: a representation several blocks long, in the Content-Format the client accepts."""

    def __init__(self):
        super().__init__()
        self.requests = []

    async def render_get(self, request):
        self.requests.append(request.opt.accept)
        return aiocoap.Message(payload=pattern(BIG_SIZE, seed=7), content_format=request.opt.accept)


class Slow(resource.Resource):
    """POST answered after aiocoap's EMPTY_ACK_DELAY: an empty ACK first, then a separate response."""

    def __init__(self, confirmable):
        super().__init__()
        self.confirmable = confirmable
        self.requests = []

    async def render_post(self, request):
        self.requests.append(request.payload)
        await asyncio.sleep(0.3)
        tuning = None if self.confirmable else Unreliable()
        return aiocoap.Message(code=aiocoap.CHANGED, payload=b"late", transport_tuning=tuning)


class Refusing(resource.Resource):
    """POST refused with an error response carrying a diagnostic payload."""

    def __init__(self, refusal):
        super().__init__()
        self.refusal = refusal

    async def render_post(self, request):
        raise self.refusal


class BlockTaker(resource.Resource):
    """POST that handles Block1 itself and wants blocks of at most 16 << szx_max bytes: it answers
    a bigger block with 2.31 and the smaller SZX (RFC 7959 2.3)."""

    def __init__(self, szx_max):
        super().__init__()
        self.szx_max = szx_max
        self.blocks = []
        self.assembled = b""

    async def needs_blockwise_assembly(self, request):
        return False

    async def render_post(self, request):
        block1 = request.opt.block1
        if block1 is None:
            raise error.BadRequest("expected Block1")
        self.blocks.append((block1.block_number, block1.size_exponent, len(request.payload)))
        if block1.block_number == 0:
            self.assembled = b""
        if block1.start != len(self.assembled):
            return aiocoap.Message(code=aiocoap.REQUEST_ENTITY_INCOMPLETE)
        self.assembled += request.payload
        if block1.more:
            response = aiocoap.Message(code=aiocoap.CONTINUE)
            response.opt.block1 = (block1.block_number, True, min(block1.size_exponent, self.szx_max))
            return response
        response = aiocoap.Message(code=aiocoap.CHANGED, payload=b"got %d" % len(self.assembled))
        response.opt.block1 = (block1.block_number, False, block1.size_exponent)
        return response


class Server:
    """The aiocoap server context and its resources, shared by the module's tests."""

    def __init__(self):
        self.readings = Readings()
        self.big = Big()
        self.slow = Slow(confirmable=True)
        self.slow_non = Slow(confirmable=False)
        self.small = BlockTaker(szx_max=2)
        self.context = None
        self.port = None

    def site(self):
        root = resource.Site()
        root.add_resource(["r"], self.readings)
        root.add_resource(["big"], self.big)
        root.add_resource(["slow"], self.slow)
        root.add_resource(["slow-non"], self.slow_non)
        root.add_resource(["small"], self.small)
        root.add_resource(["bad"], Refusing(error.BadRequest("bad signature")))
        root.add_resource(["auth"], Refusing(error.Unauthorized("unknown kid")))
        return root

    async def start(self):
        self.context = await aiocoap.Context.create_server_context(self.site(), bind=(LOOPBACK, 0), transports=["udp6"])
        for interface in self.context.request_interfaces:
            transport = interface.token_interface.message_interface.transport
            self.port = transport.get_extra_info("socket").getsockname()[1]

    def clear(self):
        self.small.blocks.clear()
        self.small.assembled = b""
        for recorder in (self.readings, self.big, self.slow, self.slow_non):
            recorder.requests.clear()


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, receive):
        self.receive = receive

    def datagram_received(self, data, address):
        self.receive(data, address)


class Relay:
    """A UDP hop between meter and server that records, drops or answers in the server's place."""

    def __init__(self, server_port):
        self.server_port = server_port
        self.from_client = []  # (monotonic seconds, datagram)
        self.from_server = []
        self.drop_client = 0  # drop this many datagrams from the meter
        self.drop_server = 0  # drop this many datagrams from the server
        self.forward = True
        self.answer = None  # answer(relay, request datagram) replaces the server when set
        self.client_address = None

    async def start(self):
        loop = asyncio.get_running_loop()
        self.front, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._from_client), local_addr=(LOOPBACK, 0)
        )
        self.back, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(self._from_server), remote_addr=(LOOPBACK, self.server_port)
        )
        self.stranger, _ = await loop.create_datagram_endpoint(
            lambda: _Endpoint(lambda data, address: None), local_addr=(LOOPBACK, 0)
        )
        self.port = self.front.get_extra_info("sockname")[1]

    def close(self):
        for transport in (self.front, self.back, self.stranger):
            transport.close()

    def to_client(self, datagram):
        self.front.sendto(datagram, self.client_address)

    def to_client_from_stranger(self, datagram):
        """The same bytes from another port of the same host: the meter must not take them."""
        self.stranger.sendto(datagram, self.client_address)

    def _from_client(self, data, address):
        self.client_address = address
        self.from_client.append((time.monotonic(), data))
        if self.answer is not None:
            if aiocoap.Message.decode(data).code.is_request():  # not the meter's ACKs and RSTs
                self.answer(self, data)
        elif self.drop_client > 0:
            self.drop_client -= 1
        elif self.forward:
            self.back.sendto(data)

    def _from_server(self, data, address):
        self.from_server.append((time.monotonic(), data))
        if self.drop_server > 0:
            self.drop_server -= 1
        else:
            self.to_client(data)

    def client_messages(self):
        return [aiocoap.Message.decode(data) for _, data in self.from_client]

    def server_messages(self):
        return [aiocoap.Message.decode(data) for _, data in self.from_server]


class LoopThread:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout_s=30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_s)

    def call(self, function):
        async def wrapper():
            return function()

        return self.run(wrapper())

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def loop_thread():
    thread = LoopThread()
    yield thread
    thread.close()


@pytest.fixture(scope="module")
def shared_server(loop_thread):
    server = Server()
    loop_thread.run(server.start())
    yield server
    loop_thread.run(server.context.shutdown())


@pytest.fixture
def server(shared_server, loop_thread):
    loop_thread.call(shared_server.clear)
    return shared_server


@pytest.fixture
def relay(server, loop_thread):
    hop = Relay(server.port)
    loop_thread.run(hop.start())
    yield hop
    loop_thread.call(hop.close)


def reply(request_datagram, code, payload=b"", mtype=ACK, token=None, mid=None, options=()):
    """A datagram answering `request_datagram`, piggy-backed by default."""
    request = aiocoap.Message.decode(request_datagram)
    message = aiocoap.Message(
        code=code,
        payload=payload,
        _mtype=mtype,
        _mid=request.mid if mid is None else mid,
        _token=request.token if token is None else token,
    )
    for option in options:
        message.opt.add_option(option)
    return message.encode()


def empty(mtype, mid):
    return aiocoap.Message(code=aiocoap.EMPTY, _mtype=mtype, _mid=mid).encode()


# --- the tests ------------------------------------------------------------------------------------


def test_post_delivers_exact_bytes_with_content_format_and_returns_the_response(micropython, server):
    lines = run_meter(
        micropython,
        server.port,
        """
        code, payload = client.request(coap.POST, "/r", payload=pattern(300), content_format=18,
                                       query="seq=7&kid=ab")
        show((code, payload))
        print(coap.code_text(code), code == coap.CHANGED)
        """,
    )
    assert lines[0] == shown(0x44, b"stored 300")
    assert lines[1] == "2.04 True"
    assert server.readings.requests == [(pattern(300), 18, ("seq=7", "kid=ab"))]


@pytest.mark.parametrize("block_szx", [6, 2])
def test_get_reassembles_a_block2_response(micropython, server, block_szx):
    # szx 2: the client asks for 64-byte blocks up front, since its buffer holds no more.
    lines = run_meter(
        micropython,
        server.port,
        """
        show(client.request(coap.GET, "/big", accept=60))
        print(client.content_format)
        """,
        block_szx=block_szx,
    )
    assert lines[0] == shown(0x45, pattern(BIG_SIZE, seed=7))
    assert lines[1] == "60"
    assert server.big.requests == [60]  # rendered once; later blocks come from aiocoap's cache


def test_responses_are_asked_for_in_blocks_of_256_bytes(micropython, relay):
    # Each datagram is received into a fresh allocation on the meter: 385 bytes find room where 1153 may not.
    lines = run_meter(micropython, relay.port, 'show(client.request(coap.GET, "/big", accept=60))\n')
    assert lines[0] == shown(0x45, pattern(BIG_SIZE, seed=7))
    requests = relay.client_messages()
    assert len(requests) == -(-BIG_SIZE // 256)
    assert [(m.opt.block2.block_number, m.opt.block2.size_exponent) for m in requests] == [
        (number, 4) for number in range(len(requests))
    ]


def test_response_above_the_bound_raises_protocol_error(micropython, server):
    lines = run_meter(
        micropython,
        server.port,
        """
        try:
            client.request(coap.GET, "/big")
        except coap.ProtocolError as e:
            print("refused", e)
        """,
        response_bytes_max=4096,
    )
    assert lines == ["refused response too large"]


@pytest.mark.parametrize("block_szx", [6, 3])
def test_post_of_several_kilobytes_goes_block1_and_is_reassembled_exactly(micropython, server, block_szx):
    lines = run_meter(
        micropython,
        server.port,
        'show(client.request(coap.POST, "/r", payload=pattern(5000, 1), content_format=18))\n',
        block_szx=block_szx,
    )
    assert lines[0] == shown(0x44, b"stored 5000")
    assert server.readings.requests == [(pattern(5000, 1), 18, ())]


def test_server_asking_for_smaller_blocks_gets_them(micropython, server):
    lines = run_meter(
        micropython,
        server.port,
        'show(client.request(coap.POST, "/small", payload=pattern(3000, 2)))\n',
    )
    assert lines[0] == shown(0x44, b"got 3000")
    assert server.small.assembled == pattern(3000, 2)
    # 1024 bytes at szx 6, then the remaining 1976 bytes in 64-byte blocks from block 16 on.
    expected = [(0, 6, 1024)] + [(16 + i, 2, 64) for i in range(30)] + [(46, 2, 1976 - 30 * 64)]
    assert server.small.blocks == expected


def test_a_payload_read_from_a_file_goes_block_by_block_from_where_the_file_stands(micropython, server, tmp_path):
    (tmp_path / "pack").write_bytes(b"head" + pattern(3000, 2) + b"tail")
    lines = run_meter(micropython, server.port, f"""
handle = open({str(tmp_path / "pack")!r}, "rb")
handle.read(4)
show(client.request(coap.POST, "/small", payload=(handle, 3000)))
handle.seek(4)
try:
    client.request(coap.POST, "/r", payload=(handle, 3010))
except OSError as err:
    print("file too short, errno", err.errno)
""")
    assert lines[0] == shown(0x44, b"got 3000")
    assert server.small.assembled == pattern(3000, 2)  # the server's smaller blocks are read as it asks
    assert lines[1] == "file too short, errno 5"


@pytest.mark.parametrize(("path", "response_type"), [("/slow", CON), ("/slow-non", NON)])
def test_separate_response_is_received_and_acknowledged(micropython, relay, server, path, response_type):
    lines = run_meter(micropython, relay.port, f'show(client.request(coap.POST, "{path}", payload=b"r1"))\n')
    assert lines[0] == shown(0x44, b"late")
    expected_from_client = 2 if response_type is CON else 1
    wait_for(lambda: len(relay.from_client) == expected_from_client)
    request, *acks = relay.client_messages()
    empty_ack, response = relay.server_messages()
    assert (empty_ack.mtype, empty_ack.code, empty_ack.mid) == (ACK, aiocoap.EMPTY, request.mid)
    assert (response.mtype, response.token) == (response_type, request.token)
    if response_type is CON:
        assert [(ack.mtype, ack.code, ack.mid) for ack in acks] == [(ACK, aiocoap.EMPTY, response.mid)]
    assert len(server.slow.requests + server.slow_non.requests) == 1


def test_lost_requests_are_retransmitted_and_executed_once(micropython, relay, server):
    relay.drop_client = 2
    lines = run_meter(
        micropython,
        relay.port,
        'show(client.request(coap.POST, "/r", payload=b"reading", content_format=18))\n',
        ack_timeout_ms=100,
    )
    assert lines[0] == shown(0x44, b"stored 7")
    datagrams = [data for _, data in relay.from_client]
    assert len(datagrams) == 3
    assert datagrams[1] == datagrams[0] and datagrams[2] == datagrams[0]  # same MID, same token
    assert server.readings.requests == [(b"reading", 18, ())]


def test_lost_response_is_resent_from_the_servers_deduplication(micropython, relay, server):
    relay.drop_server = 1
    lines = run_meter(
        micropython,
        relay.port,
        'show(client.request(coap.POST, "/r", payload=b"reading"))\n',
        ack_timeout_ms=100,
    )
    assert lines[0] == shown(0x44, b"stored 7")
    assert len(relay.from_client) == 2
    assert relay.from_client[0][1] == relay.from_client[1][1]
    assert server.readings.requests == [(b"reading", None, ())]  # aiocoap saw one request


def test_message_ids_increment_and_tokens_are_fresh(micropython, relay, server):
    run_meter(
        micropython,
        relay.port,
        """
        client.request(coap.POST, "/r", payload=b"a")
        client.request(coap.POST, "/r", payload=b"b")
        """,
    )
    first, second = relay.client_messages()
    assert second.mid == (first.mid + 1) % 65536
    assert len(first.token) == len(second.token) == 8
    assert first.token != second.token


@pytest.mark.parametrize("max_retransmit", [0, 4])
def test_unanswered_request_times_out_after_max_retransmit(micropython, relay, max_retransmit):
    relay.forward = False
    ack_timeout_ms = 50
    lines = run_meter(
        micropython,
        relay.port,
        """
        sent_ms = []
        send = client._send

        def traced(message):  # the meter's own clock, not the relay's, for exact lower bounds
            sent_ms.append(time.ticks_ms())
            send(message)

        client._send = traced
        try:
            client.request(coap.POST, "/r", payload=b"reading")
        except coap.Timeout:
            sent_ms.append(time.ticks_ms())
            print(*[time.ticks_diff(later, earlier) for earlier, later in zip(sent_ms, sent_ms[1:])])
        """,
        ack_timeout_ms=ack_timeout_ms,
        max_retransmit=max_retransmit,
    )
    transmissions = max_retransmit + 1
    datagrams = [data for _, data in relay.from_client]
    assert len(datagrams) == transmissions
    assert all(data == datagrams[0] for data in datagrams)  # retransmissions: same MID and token
    # Each wait before the next transmission (or the Timeout) is the previous one doubled, starting
    # from a random value in [ACK_TIMEOUT, 1.5 ACK_TIMEOUT]: the n waits sum to (2^n - 1) times it.
    waits_ms = [int(word) for word in lines[0].split()]
    assert len(waits_ms) == transmissions
    for i, wait_ms in enumerate(waits_ms):
        assert wait_ms >= ack_timeout_ms * 2**i - 1  # 1 ms: ticks_ms rounding
    factor = 2**transmissions - 1
    assert sum(waits_ms) <= ack_timeout_ms * 3 // 2 * factor + 2000  # generous: a loaded machine


def test_empty_ack_without_a_separate_response_times_out(micropython, relay):
    relay.answer = lambda hop, data: hop.to_client(empty(ACK, aiocoap.Message.decode(data).mid))
    lines = run_meter(
        micropython,
        relay.port,
        """
        try:
            client.request(coap.GET, "/t")
        except coap.Timeout:
            print("timeout")
        """,
        ack_timeout_ms=50,
        separate_timeout_ms=400,
    )
    assert lines == ["timeout"]
    assert len(relay.from_client) == 1  # acknowledged: no retransmission


def test_reset_raises(micropython, relay):
    relay.answer = lambda hop, data: hop.to_client(empty(RST, aiocoap.Message.decode(data).mid))
    lines = run_meter(
        micropython,
        relay.port,
        """
        try:
            client.request(coap.POST, "/r", payload=b"x")
        except coap.Reset:
            print("reset")
        """,
    )
    assert lines == ["reset"]
    assert len(relay.from_client) == 1


def test_datagrams_of_other_exchanges_and_addresses_are_ignored(micropython, relay):
    def answer(hop, data):
        request = aiocoap.Message.decode(data)
        other_token = bytes(b ^ 0xFF for b in request.token)
        hop.to_client_from_stranger(reply(data, aiocoap.CONTENT, b"spoofed"))
        hop.to_client(reply(data, aiocoap.CONTENT, b"wrong mid", mid=(request.mid + 1) % 65536))
        hop.to_client(reply(data, aiocoap.CONTENT, b"wrong token", token=other_token))
        hop.to_client(reply(data, aiocoap.CONTENT, b"late", mtype=NON, token=other_token, mid=0x1111))
        hop.to_client(reply(data, aiocoap.CONTENT, b"late", mtype=CON, token=other_token, mid=0x2222))
        hop.to_client(empty(CON, 0x3333))  # a CoAP ping
        hop.to_client(b"\x00\x01")
        hop.to_client(b"\x60\x45" + data[2:4] + request.token)  # token length 0, token as options
        hop.to_client(reply(data, aiocoap.CONTENT, b"real"))

    relay.answer = answer
    lines = run_meter(micropython, relay.port, 'show(client.request(coap.GET, "/t"))\n')
    assert lines[0] == shown(0x45, b"real")
    wait_for(lambda: len(relay.from_client) == 3)
    resets = [(message.mtype, message.code, message.mid) for message in relay.client_messages()[1:]]
    assert resets == [(RST, aiocoap.EMPTY, 0x2222), (RST, aiocoap.EMPTY, 0x3333)]


def test_response_options_with_extended_encodings_are_parsed(micropython, relay):
    options = [
        OpaqueOption(4, b"\x01\x02"),  # ETag
        OpaqueOption(8, b"location-segment-of-20"),  # Location-Path: length in the 13 form
        OpaqueOption(12, b"\x3c"),  # Content-Format 60
        OpaqueOption(60, b"\x10"),  # Size1: delta in the 13 form
        OpaqueOption(2048, b"z" * 300),  # elective, delta and length in the 14 form
    ]
    relay.answer = lambda hop, data: hop.to_client(reply(data, aiocoap.CONTENT, b"after", options=options))
    lines = run_meter(
        micropython,
        relay.port,
        """
        show(client.request(coap.GET, "/t"))
        print(client.content_format)
        """,
    )
    assert lines[0] == shown(0x45, b"after")
    assert lines[1] == "60"


def test_response_with_unknown_critical_option_is_rejected(micropython, relay):
    def answer(hop, data):
        critical = [OpaqueOption(2049, b"?")] if len(hop.from_client) == 1 else []
        hop.to_client(reply(data, aiocoap.CONTENT, b"try %d" % len(hop.from_client), options=critical))

    relay.answer = answer
    lines = run_meter(micropython, relay.port, 'show(client.request(coap.GET, "/t"))\n', ack_timeout_ms=50)
    assert lines[0] == shown(0x45, b"try 2")


def test_block2_with_changing_etag_raises_protocol_error(micropython, relay):
    def answer(hop, data):
        block2 = aiocoap.Message.decode(data).opt.block2  # the size the client asks for (early negotiation)
        number, szx = block2.block_number, block2.size_exponent
        options = [OpaqueOption(4, bytes([number])), OpaqueOption(23, bytes([number << 4 | 8 | szx]))]
        hop.to_client(reply(data, aiocoap.CONTENT, pattern(16 << szx), options=options))

    relay.answer = answer
    lines = run_meter(
        micropython,
        relay.port,
        """
        try:
            client.request(coap.GET, "/t")
        except coap.ProtocolError as e:
            print("refused", e)
        """,
    )
    assert lines == ["refused ETag changed"]
    assert len(relay.from_client) == 2


def test_request_options_are_encoded_as_rfc7252_says(micropython, relay, server):
    run_meter(
        micropython,
        relay.port,
        """
        client.request(coap.GET, "/a-rather-long-segment/x", accept=60, query="q=1")
        client.request(coap.GET, "", accept=112, confirmable=False)
        client.request(coap.PUT, "/r", payload=b"v", content_format=0)
        """,
    )
    first, second, third = relay.client_messages()
    assert (first.mtype, first.code, first.opt.uri_path) == (CON, aiocoap.GET, ("a-rather-long-segment", "x"))
    assert (first.opt.uri_query, first.opt.accept) == (("q=1",), 60)
    # Accept as the first option: delta 17 needs the 13 form.
    assert (second.mtype, second.opt.uri_path, second.opt.accept) == (NON, (), 112)
    assert (third.code, third.opt.content_format, third.payload) == (aiocoap.PUT, 0, b"v")


@pytest.mark.parametrize(
    ("path", "code", "diagnostic"),
    [("/bad", 0x80, b"bad signature"), ("/auth", 0x81, b"unknown kid"), ("/nowhere", 0x84, b"")],
)
def test_error_responses_come_back_with_their_diagnostic_payload(micropython, server, path, code, diagnostic):
    lines = run_meter(
        micropython,
        server.port,
        f"""
        result = client.request(coap.POST, "{path}", payload=b"x")
        show(result)
        print(coap.code_text(result[0]))
        """,
    )
    assert lines[0] == shown(code, diagnostic)
    assert lines[1] == f"{code >> 5}.{code & 31:02d}"


def test_block1_with_the_longest_options_stays_within_the_message_size(micropython, relay):
    def answer(hop, data):
        block1 = aiocoap.Message.decode(data).opt.block1
        code = aiocoap.CONTINUE if block1.more else aiocoap.CHANGED
        hop.to_client(reply(data, code, options=[OpaqueOption(27, bytes([block1.block_number << 4 | 6]))]))

    relay.answer = answer
    segment = "s" * 101  # with header, token and Content-Format: all 117 bytes the fixed options may use
    lines = run_meter(
        micropython,
        relay.port,
        f'show(client.request(coap.POST, "/{segment}", payload=pattern(3000), content_format=18))\n',
    )
    assert lines == [shown(0x44, b"")]
    assert max(len(data) for _, data in relay.from_client) <= 1152  # RFC 7252 4.6
    messages = relay.client_messages()
    assert all(message.opt.uri_path == (segment,) for message in messages)
    assert b"".join(message.payload for message in messages) == pattern(3000)


def test_requests_over_the_bounds_are_refused_before_sending(micropython, relay, server):
    lines = run_meter(
        micropython,
        relay.port,
        """
        class Huge:  # only its length is looked at before the refusal
            def __len__(self):
                return 16385

        for path, payload in (("/" + "s" * 110, b"x"), ("/r", Huge())):
            try:
                client.request(coap.POST, path, payload=payload)
            except ValueError as e:
                print("refused", e)
        show(client.request(coap.POST, "/r", payload=b"still usable"))
        """,
    )
    assert lines == ["refused options too long", "refused request", shown(0x44, b"stored 12")]
    assert len(relay.from_client) == 1


def test_a_buffer_given_by_the_caller_carries_the_blocks_and_one_too_small_is_refused(micropython, server):
    # The meter allocates the transmit buffer before it loads CoAP's code (meter/device.py, _link).
    lines = run_meter(
        micropython,
        server.port,
        f"""
        given = bytearray(16 * 16 + 128)
        sized = coap.Client({LOOPBACK!r}, {server.port}, block_szx=4, buffer=given)
        show(sized.request(coap.POST, "/r", payload=pattern(3000)))
        print("given buffer used", given[0] >> 6 == 1 and given[1] == coap.POST)
        sized.close()
        try:
            coap.Client({LOOPBACK!r}, {server.port}, block_szx=5, buffer=given)
        except ValueError as e:
            print("refused", e)
        """,
    )
    assert lines == [shown(0x44, b"stored 3000"), "given buffer used True", "refused client buffer"]
    assert server.readings.requests == [(pattern(3000), None, ())]


@pytest.mark.parametrize(("size", "heapsize"), [(300, "24K"), (5000, "32K")])
def test_post_fits_a_small_heap_when_deployed_as_mpy(micropython, server, tmp_path, size, heapsize):
    # The device runs .mpy files (tools/firmware_build.py). Measured on this 64-bit port: a 300-byte
    # reading needs 18 KB of heap in all, a 5 KB batch (built in the heap first) 24 KB.
    build = tmp_path / "build"
    (build / "meter").mkdir(parents=True)
    (build / "meter" / "__init__.py").write_text("")
    source = FIRMWARE / "meter" / "coap.py"
    subprocess.run([mpy_cross(), "-o", str(build / "meter" / "coap.mpy"), str(source)], check=True)
    code = (
        "from meter import coap\n"
        f"client = coap.Client({LOOPBACK!r}, {server.port})\n"
        f"code, payload = client.request(coap.POST, '/r', payload=bytes({size}))\n"
        "print(code, payload)\n"
    )
    result = subprocess.run(
        [micropython.executable, "-X", f"heapsize={heapsize}", "-c", code],
        env=dict(micropython.env(), MICROPYPATH=str(build)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout == f"68 b'stored {size}'\n", result.stdout + result.stderr
