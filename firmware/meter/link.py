"""The gateway link: one network phase of the meter. meter/device.py loads it (and CoAP) for the phase and
unloads both afterwards, so that their RAM is free while the meter signs or verifies.

run(device, probe, buffer) -> downlinks: a list of (nonce, payload) to check after the phase (meter/downlink.py):
    (nonce, signed time) from GET /t and (None, CBOR array of signed grants) from GET /g.
- probe: first GET /t?k=<kid>&n=<nonce> (the time, and a cheap test that the gateway answers).
- Then the closed packs go, oldest first, POST /r, until none is left or one is not taken (each read from flash
  block by block; a pack whose stored message is damaged is rebuilt first, outbox_fix.rebuild):
    2.04: acknowledged, removed from the outbox (only now: docs/downlink.md, durability).
    4.09: the gateway has some of the pack's readings (e.g. its ACK was lost and the pack changed since):
          those up to the seq it names are dropped, the rest re-signed and sent next.
    4.00: the gateway will never take these bytes: the pack is quarantined (outbox `bad`), the rest go on.
    anything else (4.01 unknown meter, 5.03 busy, ...) or no answer: kept; the link is marked offline and the
    next attempt waits a back-off (interval_s doubling to backoff_max_s, plus up to 10% jitter).
- After an acknowledged delivery: GET /g?k=<kid>&after=<last grant id applied>.
The client waits with device.service as its idle hook: keys, relay and screen keep working meanwhile.
"""

import os
from binascii import hexlify

from micropython import const

from meter import coap

_CONFLICT = const(0x89)  # 4.09
_EMPTY_ARRAY = b"\x80"


def _offline(device):
    settings = device.settings
    device.online = False
    device.backoff_s = min(max(settings.interval_s, 2 * device.backoff_s), settings.backoff_max_s)
    wait_s = device.backoff_s + os.urandom(1)[0] * device.backoff_s // 2560  # up to 10% jitter: no stampede
    device.next_attempt_s = device.clock.now_s() + wait_s
    print("gateway offline: next attempt in %d s; %d readings queued" % (wait_s, device.outbox.count))


def _request(device, client, method, path, payload=b"", content_format=None, query=None):
    try:
        result = client.request(method, path, payload=payload, content_format=content_format, query=query)
    except (coap.Error, OSError) as err:
        print("gateway unreachable:", repr(err))
        _offline(device)
        return None, b""
    device.online = True
    device.backoff_s = 0
    device.next_attempt_s = 0
    return result


def _last_accepted(text):
    # The gateway's 4.09 says "seq N already used; last accepted is M".
    text = bytes(text).decode()
    marker = text.rfind("last accepted is ")
    if marker < 0:
        return None
    digits = text[marker + 17 :].split()[0].strip(".;,")
    return int(digits) if digits.isdigit() else None


def _deliver(device, client):
    box = device.outbox
    acked = 0
    for _ in range(box.packs_max + 2):
        name = box.oldest()
        if name is None:
            break
        stored = box.message(name)
        if stored is None:
            if device.fix("rebuild", name):
                continue
            break
        count, last_seq = box.seqs(name)
        try:
            code, payload = _request(device, client, coap.POST, "/r", stored, coap.FORMAT_COSE_SIGN1)
        finally:
            stored[0].close()
        if code is None:
            break
        if code == coap.CHANGED:
            box.remove(name)
            acked += count
            print("acked seq %d readings %d" % (last_seq, count))
        elif code == _CONFLICT:
            seq = _last_accepted(payload)
            print("gateway has readings up to seq %d - dropping them from pack %s" % (seq, name))
            if seq is None:
                box.remove(name)
            else:
                device.fix("drop_through", name, seq)
        elif code == coap.BAD_REQUEST:
            device.fix("quarantine", name, "refused as malformed: " + bytes(payload).decode())
        else:
            print("gateway refused", coap.code_text(code), bytes(payload).decode(), "- kept for later")
            _offline(device)
            break
    return acked


def run(device, probe, buffer):
    settings = device.settings
    kid = hexlify(settings.kid).decode()
    downlinks = []
    try:
        client = coap.Client(settings.gateway, settings.port, ack_timeout_ms=settings.ack_timeout_ms,
                             max_retransmit=settings.max_retransmit, buffer=buffer)
    except OSError as err:  # no network at all (e.g. the gateway's name does not resolve)
        print("gateway unreachable:", repr(err))
        _offline(device)
        return downlinks
    client.idle = device.service
    try:
        device.next_sync_s = device.clock.now_s() + settings.time_sync_s
        if probe and settings.gateway_key is not None:
            nonce = os.urandom(8)
            code, payload = _request(device, client, coap.GET, "/t",
                                     query="k=%s&n=%s" % (kid, hexlify(nonce).decode()))
            if code is None:
                return downlinks
            if code == coap.CONTENT:
                downlinks.append((nonce, payload))
            else:
                print("time: gateway answered", coap.code_text(code))
        if _deliver(device, client) and settings.gateway_key is not None:
            code, payload = _request(device, client, coap.GET, "/g",
                                     query="k=%s&after=%d" % (kid, device.state.grant_id))
            if code == coap.CONTENT:
                if payload != _EMPTY_ARRAY or device.state.grant_resync:
                    downlinks.append((None, payload))
            elif code is not None:
                print("grants: gateway answered", coap.code_text(code))
    finally:
        client.close()
    return downlinks
