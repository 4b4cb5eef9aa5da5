"""CoAP client for the meter: RFC 7252 over UDP, with block-wise transfer (RFC 7959).

    from meter import coap
    client = coap.Client("gateway.local")
    code, payload = client.request(coap.POST, "/r", payload=signed, content_format=coap.FORMAT_COSE_SIGN1)
    if code == coap.CHANGED: ...
    client.close()

Contract:
- One request at a time; `request` blocks until it has the final response or gives up, and returns
  `(code, payload)` for any response code: 2.xx, or 4.xx/5.xx whose payload is the server's
  diagnostic text. `payload` is bytes; `client.content_format` is the response's Content-Format
  (None if absent). A code is one byte, class << 5 | detail; `code_text(0x44)` is "2.04".
- Confirmable requests (the default) follow RFC 7252 4.2: the first timeout is random in
  [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR], doubled after each of at most MAX_RETRANSMIT
  retransmissions. The response may be piggy-backed in the ACK or come separately (empty ACK, then
  a CON response, which is acknowledged, or a NON one) within `separate_timeout_ms`. A
  non-confirmable request is sent once and waits `separate_timeout_ms` for its response.
- Raises `Timeout` when nothing answers in time, `Reset` when the peer rejects the request with
  RST, `ProtocolError` when a response breaks the block-wise rules or a bound, `ValueError` for a
  request it will not build (payload over 16 KB; path, query and formats needing more than 105
  bytes of options); socket `OSError`s (no network) pass through. All are per request: the client stays usable.
- `payload` is bytes-like, or `(file, length)`: `length` bytes read from the file's position, one block at a
  time straight into the transmit buffer (the meter sends its packs from flash, never whole in RAM).
- A payload larger than one block (16 << block_szx bytes) goes block-wise with Block1, following
  2.31 Continue, and a smaller block size when the server's 2.31 asks for one. Responses are asked
  for in blocks of at most 256 bytes (Block2 on a request's last block): a longer response is fetched
  block by block and joined, up to `response_bytes_max` bytes.
- Datagrams that do not belong to the current exchange (other message ID or token, e.g. a late
  copy of an earlier response) are ignored; an unexpected confirmable message is answered with RST.
  The socket is connected, so the network stack drops datagrams from any other address.
- `client.idle`, if set, is called at least every 50 ms while a request waits (the meter serves its keypad,
  relay and screen meanwhile); it must not use the client.
- Memory: one transmit buffer of block size + 128 bytes, reused: `buffer`, or allocated by the constructor
  (after a gc.collect(), so that it sits low in the heap). The meter allocates it before it loads this code:
  the phase's one large piece then has the pick of the heap, before the code's many small ones fill it.
  Each received datagram is one `recv` (a short-lived bytes object): MicroPython's `readinto` on
  a socket keeps reading until the buffer is full, so it would run queued datagrams together.
  The client's settings and the state of an exchange are attributes under names the meter has anyway
  (`ack_timeout_ms`, `block_szx`, `mid`, `code`, `block1`, `start`...), not private twins (`_mid`): MicroPython
  interns every distinct name for as long as it runs. They are not for callers to change.
"""

import errno
import gc
import select
import socket
import time
from os import urandom  # tokens must be unpredictable (RFC 7252 5.3.1); every port the meter runs on has it

from micropython import const

# The request methods, and the response codes this client and meter/link.py act on (RFC 7252 12.1, RFC 7959):
# class << 5 | detail. Each public name costs RAM for as long as the meter runs (an interned name and a module
# global): no others.
GET = const(1)
POST = const(2)
PUT = const(3)
CHANGED = const(0x44)
CONTENT = const(0x45)
CONTINUE = const(0x5F)
BAD_REQUEST = const(0x80)

# The Content-Format of the meter's signed readings (IANA CoAP Content-Formats registry).
FORMAT_COSE_SIGN1 = const(18)

_TOKEN_LENGTH = const(8)  # 64 random bits: an off-path attacker cannot guess a live token
# Room for header, token, options and payload marker on top of one block: 1024 + 128 = 1152 bytes,
# the message size RFC 7252 4.6 recommends. Options end before the marker; the options every block
# repeats end 10 bytes earlier still, leaving room for Block2 and Block1 (up to 5 bytes each).
_OVERHEAD_BYTES = const(128)
_OPTIONS_END = const(_OVERHEAD_BYTES - 1)
_FIXED_OPTIONS_END = const(_OPTIONS_END - 10)
_REQUEST_BYTES_MAX = const(16384)
# Responses come in blocks of at most 256 bytes (Block2, asked for on the last block of every request): each
# datagram is received into a fresh allocation, which must find room in one piece: 385 bytes, not 1153.
_RESPONSE_SZX = const(4)
# Enough exchanges for the largest request in the smallest blocks, plus the last ones.
_EXCHANGES_MAX = const((_REQUEST_BYTES_MAX >> 4) + 4)

# What _classify made of a datagram.
_IGNORED = const(0)
_EMPTY_ACK = const(1)
_RESPONSE = const(2)


class Error(Exception):
    """Base of the errors this client raises itself."""


class Timeout(Error):
    """No acknowledgement or response in time (after MAX_RETRANSMIT retransmissions)."""


class Reset(Error):
    """The peer answered the request with RST: it could not or would not process it."""


class ProtocolError(Error):
    """The response broke the RFC 7959 block-wise rules or a size bound of this client."""


def code_text(code):
    return "%d.%02d" % (code >> 5, code & 0x1F)


def _put_option(buf, pos, delta, value):
    # One option, an int (as a minimal unsigned integer) or bytes, after the previous one
    # (RFC 7252 3.1). Request deltas (< 28) and lengths (< 128) never need the 2-byte forms.
    # Checked before writing: a slice assignment past the end would grow the buffer.
    if isinstance(value, int):
        length = 0
        while value >> (8 * length):
            length += 1
    else:
        length = len(value)
    if pos + 3 + length > _OPTIONS_END:
        raise ValueError("options too long")
    buf[pos] = min(delta, 13) << 4 | min(length, 13)
    pos += 1
    if delta >= 13:
        buf[pos] = delta - 13
        pos += 1
    if length >= 13:
        buf[pos] = length - 13
        pos += 1
    if isinstance(value, int):
        for shift in range(8 * length - 8, -8, -8):
            buf[pos] = (value >> shift) & 0xFF
            pos += 1
    else:
        buf[pos : pos + length] = value
        pos += length
    return pos


class Client:
    """A CoAP client talking to one server address."""

    def __init__(
        self,
        host,
        port=5683,
        ack_timeout_ms=2000,
        ack_random_factor_pct=150,
        max_retransmit=4,
        block_szx=6,
        response_bytes_max=8192,
        separate_timeout_ms=None,
        buffer=None,
    ):
        # szx 7 (BERT) exists only over reliable transports.
        ok = 0 <= block_szx <= 6 and 0 <= max_retransmit <= 8
        if not (ok and ack_timeout_ms > 0 and ack_random_factor_pct >= 100):
            raise ValueError("client parameters")
        self.ack_timeout_ms = ack_timeout_ms
        self.ack_random_factor_pct = ack_random_factor_pct
        self.max_retransmit = max_retransmit
        self.block_szx = block_szx
        self.response_bytes_max = response_bytes_max
        if separate_timeout_ms is None:
            # MAX_TRANSMIT_WAIT (RFC 7252 4.8.2): the longest a requester waits for any reply.
            separate_timeout_ms = ack_timeout_ms * ((2 << max_retransmit) - 1) * ack_random_factor_pct // 100
        self.separate_timeout_ms = separate_timeout_ms

        # The client lives as long as the meter: its buffers go low in a collected heap, not wherever the
        # garbage of what ran before (imports, the signing table check) left the allocator.
        gc.collect()
        address = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0]
        self.sock = socket.socket(address[0], socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        # Connected: the stack delivers only the server's datagrams, and send() needs no address.
        self.sock.connect(address[-1])
        self.poll = select.poll()
        self.poll.register(self.sock, select.POLLIN)

        size = (16 << block_szx) + _OVERHEAD_BYTES
        if buffer is not None and len(buffer) < size:
            raise ValueError("client buffer")
        self._tx = bytearray(size) if buffer is None else buffer
        # One spare byte tells a full datagram from a cut one.
        self._rx_size = (16 << min(block_szx, _RESPONSE_SZX)) + _OVERHEAD_BYTES + 1
        self._rx = b""
        self._control = bytearray(4)  # empty ACK or RST for incoming confirmable messages
        mid = urandom(2)
        self.mid = mid[0] << 8 | mid[1]
        self._acked_mid = -1  # last separate response acknowledged: re-ACK its retransmissions
        self.content_format = None
        self.idle = None
        # The state of a request and its response, set here so that the table of attributes is sized once,
        # at construction: grown by the first request, it would be reallocated mid-heap and fragment it.
        self._fixed = self._last = self.code = 0
        self.block1 = self.block2 = -1
        self._etag = None
        self.start = self.end = 0

    def close(self):
        self.poll.unregister(self.sock)
        self.sock.close()

    def request(self, method, path, payload=b"", content_format=None, accept=None, query=None, confirmable=True):
        """Send one request and return (code, payload) of its final response; see the module doc."""
        stream = payload[0] if isinstance(payload, tuple) else None
        total = len(payload) if stream is None else payload[1]
        if not 0 < method < 32 or total > _REQUEST_BYTES_MAX:
            raise ValueError("request")
        # Header byte 0 and the code, then the options that every block of this request repeats
        # (RFC 7959 2.4: the same options in each block; aiocoap keys its reassembly on them).
        tx = self._tx
        tx[0] = 0x40 | (0 if confirmable else 0x10) | _TOKEN_LENGTH
        tx[1] = method
        pos = 4 + _TOKEN_LENGTH
        last = 0
        for segment in path.split("/"):
            if segment:
                pos = _put_option(tx, pos, 11 - last, segment.encode())  # Uri-Path
                last = 11
        if content_format is not None:
            pos = _put_option(tx, pos, 12 - last, content_format)
            last = 12
        for part in query.split("&") if query else ():
            if part:
                pos = _put_option(tx, pos, 15 - last, part.encode())  # Uri-Query
                last = 15
        if accept is not None:
            pos = _put_option(tx, pos, 17 - last, accept)
            last = 17
        if pos > _FIXED_OPTIONS_END:
            raise ValueError("options too long")
        self._fixed = pos
        self._last = last
        body = memoryview(payload) if stream is None else None
        # Early Block2 negotiation (RFC 7959 2.4), on the request that gets the final response: the receive
        # size is smaller than a default 1024-byte block.
        szx = self.block_szx
        early = min(szx, _RESPONSE_SZX)
        size = 16 << szx
        offset = 0
        block1 = -1
        for _ in range(_EXCHANGES_MAX):
            end = total
            if total > size:
                end = min(offset + size, total)
                block1 = (offset >> (szx + 4)) << 4 | (8 if end < total else 0) | szx
            # Each exchange starts from a collected heap: recv needs one free block of response block size +
            # 129 bytes, and the garbage of the previous exchange would scatter this one's live objects.
            gc.collect()
            data = (stream, end - offset) if stream is not None else body[offset:end]  # a file is read in order
            code = self._exchange(block1, early if end == total else -1, data)
            if block1 < 0:
                break
            if code != CONTINUE:
                if end < total and code >> 5 == 2:
                    # A success for part of the payload would let the meter drop a reading the
                    # gateway never stored whole.
                    raise ProtocolError("final response before last block")
                break
            # The server echoes our block's start; a smaller SZX is the size it wants from now on.
            answer = self.block1
            if end == total or answer < 0 or (answer >> 4) << ((answer & 7) + 4) != offset:
                raise ProtocolError("Block1 mismatch")
            if (answer & 7) < szx:
                szx = answer & 7
                size = 16 << szx
            offset = end  # a multiple of the new size too: sizes are powers of two
        else:
            raise ProtocolError("too many blocks")
        result = (code, self._rx[self.start : self.end]) if self.block2 < 0 else self._collect(code)
        # Kept until the next request, the last datagram would pin a few bytes in the middle of the heap.
        self._rx = b""
        self._etag = None
        return result

    def _collect(self, code):
        # Fetches the rest of a Block2 response and joins it (RFC 7959 2.4).
        etag = self._etag
        joined = bytearray()
        for _ in range(_EXCHANGES_MAX):
            payload = memoryview(self._rx)[self.start : self.end]
            if self.code != code:
                # E.g. 4.08 when the server forgot the representation: report that answer.
                return self.code, bytes(payload)
            block2 = self.block2
            szx = block2 & 7
            if block2 < 0 or szx == 7 or (block2 >> 4) << (szx + 4) != len(joined):
                raise ProtocolError("Block2 mismatch")
            if block2 & 8 and len(payload) != 16 << szx:
                raise ProtocolError("Block2 size")
            if self._etag != etag:
                # The representation changed between blocks: the pieces do not belong together.
                raise ProtocolError("ETag changed")
            if len(joined) + len(payload) > self.response_bytes_max:
                raise ProtocolError("response too large")
            joined.extend(payload)
            if not block2 & 8:
                return code, bytes(joined)
            szx = min(szx, self.block_szx, _RESPONSE_SZX)
            gc.collect()  # as in request
            self._exchange(-1, (len(joined) >> (szx + 4)) << 4 | szx, b"")
        raise ProtocolError("too many blocks")

    def _exchange(self, block1, block2, data):
        # Sends one message of the current request, retransmitting while unacknowledged; returns
        # the response code, with the response parsed (see _parse).
        self.mid = (self.mid + 1) & 0xFFFF
        mid = self.mid
        tx = self._tx
        tx[2] = mid >> 8
        tx[3] = mid & 0xFF
        tx[4 : 4 + _TOKEN_LENGTH] = urandom(_TOKEN_LENGTH)
        pos = self._fixed
        last = self._last
        if block2 >= 0:
            pos = _put_option(tx, pos, 23 - last, block2)
            last = 23
        if block1 >= 0:
            pos = _put_option(tx, pos, 27 - last, block1)
        if isinstance(data, tuple):
            tx[pos] = 0xFF
            if data[0].readinto(memoryview(tx)[pos + 1 : pos + 1 + data[1]]) != data[1]:
                raise OSError(errno.EIO)  # the file is shorter than it was said to be
            pos += 1 + data[1]
        elif len(data):
            tx[pos] = 0xFF
            tx[pos + 1 : pos + 1 + len(data)] = data
            pos += 1 + len(data)
        message = memoryview(tx)[:pos]
        timeout_ms = self.separate_timeout_ms
        attempts = 1
        if not tx[0] & 0x10:
            jitter = self.ack_timeout_ms * (self.ack_random_factor_pct - 100) // 100
            draw = urandom(2)
            timeout_ms = self.ack_timeout_ms + ((draw[0] << 8 | draw[1]) * (jitter + 1) >> 16)
            attempts = self.max_retransmit + 1
        for _ in range(attempts):
            self._send(message)
            status = self._wait(mid, timeout_ms, False)
            if status == _EMPTY_ACK:
                # Separate response: the server has the request, so retransmission stops.
                if self._wait(mid, self.separate_timeout_ms, True) == _RESPONSE:
                    return self.code
                break
            if status == _RESPONSE:
                return self.code
            timeout_ms *= 2
        raise Timeout()

    def _send(self, message):
        try:
            self.sock.send(message)
        except OSError as error:
            # ICMP port unreachable for an earlier datagram surfaces here or in recv: the
            # gateway may be restarting, so it counts as a lost datagram and retransmission goes on.
            if error.errno != errno.ECONNREFUSED:
                raise

    def _send_control(self, mtype, mid):
        control = self._control
        control[0] = 0x40 | mtype << 4
        control[2] = mid >> 8
        control[3] = mid & 0xFF
        self._send(control)

    def _wait(self, mid, timeout_ms, acknowledged):
        # Reads datagrams until one completes the exchange or (before any ACK) acknowledges it, or
        # timeout_ms passes. Returns _RESPONSE, _EMPTY_ACK or _IGNORED (time is up).
        start = time.ticks_ms()
        while True:
            remaining = timeout_ms - time.ticks_diff(time.ticks_ms(), start)
            if remaining <= 0:
                return _IGNORED
            idle = self.idle
            if idle is not None:
                idle()
                remaining = min(remaining, 50)
            for _ in self.poll.ipoll(remaining):
                pass
            while True:  # until the socket has no more datagrams
                try:
                    self._rx = self.sock.recv(self._rx_size)
                except OSError as error:
                    if error.errno == errno.EAGAIN:
                        break
                    if error.errno != errno.ECONNREFUSED:
                        raise
                    continue  # a pending ICMP error, now consumed; see _send
                status = self._classify(mid)
                if status == _RESPONSE or (status == _EMPTY_ACK and not acknowledged):
                    return status

    def _classify(self, mid):
        rx = self._rx
        count = len(rx)
        # A datagram filling the whole receive size may have been cut short: never trust it.
        if count < 4 or count >= self._rx_size or rx[0] >> 6 != 1:
            return _IGNORED
        mtype = (rx[0] >> 4) & 3
        code = rx[1]
        their_mid = rx[2] << 8 | rx[3]
        if mtype >= 2:  # ACK or RST
            if their_mid != mid:
                return _IGNORED  # e.g. a late ACK of an earlier message
            if code == 0:
                if count != 4:
                    return _IGNORED  # an empty message is exactly 4 bytes
                if mtype == 3:
                    raise Reset()
                return _EMPTY_ACK
            if mtype == 3:
                return _IGNORED
        elif code < 32:
            # A ping or a request: the meter serves nothing.
            if mtype == 0:
                self._send_control(3, their_mid)
            return _IGNORED
        elif mtype == 0 and their_mid == self._acked_mid:
            # Our ACK of the previous separate response was lost: acknowledge the copy again.
            self._send_control(2, their_mid)
            return _IGNORED
        matches = 2 <= code >> 5 <= 5 and rx[0] & 0x0F == _TOKEN_LENGTH and count >= 4 + _TOKEN_LENGTH
        for i in range(4, 4 + _TOKEN_LENGTH):
            matches = matches and rx[i] == self._tx[i]  # the token sent
        try:
            matches = matches and self._parse(count)
        except IndexError:  # an extended delta or length cut off by the end of the datagram
            matches = False
        if not matches:
            if mtype == 0:
                self._send_control(3, their_mid)
            return _IGNORED
        if mtype == 0:
            self._send_control(2, their_mid)
            self._acked_mid = their_mid
        self.code = code
        return _RESPONSE

    def _parse(self, count):
        # Decodes the options the client needs into attributes. False for a malformed message or
        # an unknown critical option: RFC 7252 5.4.1 says to reject such a response.
        rx = self._rx
        self.block1 = self.block2 = -1
        self._etag = self.content_format = None
        self.start = self.end = count
        pos = 4 + _TOKEN_LENGTH
        number = 0
        while pos < count:
            delta = rx[pos] >> 4
            length = rx[pos] & 0x0F
            pos += 1
            if delta == 15 or length == 15:
                if delta != length or pos == count:
                    return False  # the payload marker must be followed by payload
                self.start = pos
                return True
            # Extended forms (RFC 7252 3.1): 13 adds one byte to 13, 14 two bytes to 269.
            if delta == 13:
                delta = 13 + rx[pos]
                pos += 1
            elif delta == 14:
                delta = 269 + (rx[pos] << 8 | rx[pos + 1])
                pos += 2
            if length == 13:
                length = 13 + rx[pos]
                pos += 1
            elif length == 14:
                length = 269 + (rx[pos] << 8 | rx[pos + 1])
                pos += 2
            if pos + length > count:
                return False
            number += delta
            value = 0
            for i in range(pos, pos + min(length, 4)):
                value = value << 8 | rx[i]
            if number in (23, 27):  # Block2, Block1
                if length > 3:
                    return False
                if number == 27:
                    self.block1 = value
                else:
                    self.block2 = value
            elif number == 12:
                self.content_format = value
            elif number == 4:
                self._etag = rx[pos : pos + length]
            elif number & 1:
                return False
            pos += length
        return True
