"""Gateway ingest benchmark: verified and durably stored readings per second over real CoAP on loopback.

    python -m tools.bench_ingest [--seconds 8] [--meters 1000] [--window 128]

In one run it measures, each server pinned to one core (taskset) and the load generator to the other:
  1. plain: an aiocoap server whose resource only answers 2.04 (the ceiling aiocoap itself allows);
  2. gateway: `enerlectra-edge serve` (COSE verify, SenML parse, replay check, SQLite WAL synchronous=FULL,
     ACK only after the group commit).
and prints both rates, their ratio, and the gateway's resident memory after the sustained run.

The load generator is a lean raw-UDP CoAP client (aiocoap's own client costs more CPU than the server under
test) keeping `window` confirmable requests in flight with pre-signed, distinct readings.
"""

import argparse
import asyncio
import collections
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from edge.app import open_database
from edge.meters import MeterCreate, register_meter
from enerlectra.cose import sign1
from enerlectra.senml import Reading, encode_readings
from tools.cluster import BIN, free_port
from tools.provision import new_identity

PLAIN_SERVER = textwrap.dedent(
    """
    import asyncio, sys
    import aiocoap
    from aiocoap import resource

    class Plain(resource.Resource):
        async def render_post(self, request):
            return aiocoap.Message(code=aiocoap.CHANGED)

    async def main():
        site = resource.Site()
        site.add_resource(("r",), Plain())
        await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", int(sys.argv[1])))
        print("ready", flush=True)
        await asyncio.get_running_loop().create_future()

    asyncio.run(main())
    """
)


def coap_post(message_id: int, token: bytes, payload: bytes) -> bytes:
    header = struct.pack(">BBH", 0x40 | len(token), 0x02, message_id)  # CON POST
    # Uri-Path "r" (option 11), Content-Format 18 (option 12, delta 1).
    return header + token + b"\xb1r" + b"\x11\x12" + b"\xff" + payload


def signed_messages(db: Path | None, meters: int, readings_each: int) -> list[bytes]:
    """Distinct signed readings, round-robin over meters (each meter's seqs increasing)."""
    identities = [new_identity(f"bench-{n}") for n in range(meters)]
    if db is not None:
        engine = open_database(db)
        for identity in identities:
            register_meter(engine, MeterCreate(identity.meter_id, identity.kid.hex(), identity.public_key.hex(),
                                               "+260971234567"))
        engine.dispose()
    messages = []
    for seq in range(1, readings_each + 1):
        for identity in identities:
            reading = Reading(1_790_000_000 + 60 * seq, seq, 1000 + seq, 0, 500, 10_000)
            messages.append(sign1(encode_readings(identity.kid, [reading]), identity.signing_key, identity.kid))
    return messages


class LoadGenerator(asyncio.DatagramProtocol):
    """Like many meters: each has at most one reading in flight, and sends its next only once that is answered."""

    def __init__(self, messages: list[bytes], window: int, meters: int):
        self.messages = messages
        self.window = window
        self.meters = meters
        # messages[i] belongs to meter i % meters; each meter sends its own in order.
        self.queues = [collections.deque(range(meter, len(messages), meters)) for meter in range(meters)]
        self.ready = collections.deque(range(meters))  # meters with nothing in flight
        self.sent = 0
        self.in_flight: dict[bytes, tuple[bytes, float]] = {}
        self.answered = 0
        self.failed = 0
        self.failure_codes: dict[int, int] = {}
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def send_next(self):
        while self.ready and not self.queues[self.ready[0]]:
            self.ready.popleft()
        if not self.ready:
            return
        index = self.queues[self.ready.popleft()].popleft()
        self.sent += 1
        token = struct.pack(">I", index)
        datagram = coap_post(index & 0xFFFF, token, self.messages[index])
        self.in_flight[token] = (datagram, time.monotonic())
        self.transport.sendto(datagram)

    def datagram_received(self, data, addr):
        if (data[0] >> 4) & 0x03 == 0:  # a separate response comes confirmable: acknowledge it, as meters do
            self.transport.sendto(struct.pack(">BBH", 0x60, 0, struct.unpack_from(">H", data, 2)[0]))
        token = data[4 : 4 + (data[0] & 0x0F)]
        if self.in_flight.pop(token, None) is None:
            return
        self.ready.append(struct.unpack(">I", token)[0] % self.meters)
        if data[1] == 0x44:  # 2.04 Changed
            self.answered += 1
        else:
            self.failed += 1
            self.failure_codes[data[1]] = self.failure_codes.get(data[1], 0) + 1
        self.send_next()

    def retransmit_stale(self, after_s: float = 2.0):
        now = time.monotonic()
        for token, (datagram, sent) in list(self.in_flight.items()):
            if now - sent > after_s:
                self.in_flight[token] = (datagram, now)
                self.transport.sendto(datagram)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(port: int, messages: list[bytes], window: int, seconds: float, server_pid: int, meters: int):
    """Returns (answers per second, answers per CPU-second of the server, failures)."""
    loop = asyncio.get_running_loop()
    transport, load = await loop.create_datagram_endpoint(
        lambda: LoadGenerator(messages, window, meters), remote_addr=("127.0.0.1", port)
    )
    for _ in range(window):
        load.send_next()
    warmup_until = time.monotonic() + 1.0
    while time.monotonic() < warmup_until:
        await asyncio.sleep(0.1)
        load.retransmit_stale()
    start_count, start, start_cpu = load.answered, time.monotonic(), cpu_seconds(server_pid)
    while time.monotonic() - start < seconds and load.sent < len(messages):
        await asyncio.sleep(0.1)
        load.retransmit_stale()
    answered = load.answered - start_count
    rate = answered / (time.monotonic() - start)
    per_cpu_second = answered / max(cpu_seconds(server_pid) - start_cpu, 1e-9)
    transport.close()
    codes = ", ".join(f"{code >> 5}.{code & 31:02d}: {count}" for code, count in sorted(load.failure_codes.items()))
    return rate, per_cpu_second, f"{load.failed} {codes}".strip()


def pinned(command: list[str], core: int) -> list[str]:
    return (["taskset", "-c", str(core)] if shutil.which("taskset") else []) + command


def resident_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run_server(command: list[str], ready_word: str) -> subprocess.Popen:
    process = subprocess.Popen(pinned(command, 0), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = process.stdout.readline()
    if ready_word not in line:
        raise RuntimeError(f"server did not start: {line}")
    time.sleep(0.5)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--window", type=int, default=128)
    args = parser.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {1})  # the load generator on the other core

    if args.meters < args.window:
        parser.error("--meters must be at least --window: a meter has one reading in flight at a time")
    readings_each = int(args.seconds * 8000 / args.meters) + 20  # more than the run can use
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "bench.db"
        print(f"signing {readings_each * args.meters} distinct readings from {args.meters} meters ...")
        messages = signed_messages(db, args.meters, readings_each)
        random.seed(1)

        port = free_port()
        plain = run_server([sys.executable, "-c", PLAIN_SERVER, str(port)], "ready")
        plain_rate, plain_cpu_rate, plain_failed = asyncio.run(
            drive(port, messages, args.window, args.seconds, plain.pid, args.meters)
        )
        stop(plain)

        port = free_port()
        gateway = run_server([str(BIN / "enerlectra-edge"), "serve", "--db", str(db), "--coap-port", str(port),
                              "--http-port", str(free_port(1))], "enerlectra-edge")
        idle_rss_kb = resident_kb(gateway.pid)
        gateway_rate, gateway_cpu_rate, gateway_failed = asyncio.run(
            drive(port, messages, args.window, args.seconds, gateway.pid, args.meters)
        )
        rss_kb = resident_kb(gateway.pid)
        stop(gateway)

        engine = open_database(db)
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT COUNT(*) FROM reading").scalar_one()
        engine.dispose()

    print(f"plain aiocoap 2.04 resource : {plain_rate:8.0f} req/s, {plain_cpu_rate:8.0f} per CPU-second"
          f"  (failed {plain_failed})")
    print(f"gateway, verified + durable : {gateway_rate:8.0f} readings/s, {gateway_cpu_rate:8.0f} per CPU-second"
          f"  (failed {gateway_failed}, stored {stored})")
    print(f"ratio gateway / plain       : {gateway_rate / plain_rate:8.2f} by wall clock,"
          f" {gateway_cpu_rate / plain_cpu_rate:.2f} by CPU  (target >= 0.70)")
    print(f"gateway resident memory     : {idle_rss_kb / 1024:8.1f} MiB idle, {rss_kb / 1024:.1f} MiB after the run"
          " (aiocoap keeps each exchange ~247 s for de-duplication)")


if __name__ == "__main__":
    main()
