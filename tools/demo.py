"""`make run`: a small cluster comes alive on loopback.

A gateway (`enerlectra-edge serve`, SQLite in .run/) and several virtual meters — the real firmware, built to
.mpy and running on the MicroPython unix port — which sign readings and send them over CoAP. Every few seconds
the per-meter totals are read back from the gateway's HTTP API and printed. To show that the gateway refuses
what it must, the demo plays someone on the network once (a replayed, an edited, a forged message) and prints
the gateway's answers.

    python -m tools.demo [--meters 5] [--seconds 0 (= until Ctrl-C)]
"""

import argparse
import asyncio
import shutil
import signal
import time
from pathlib import Path

import aiocoap
from nacl.signing import SigningKey

from enerlectra.cose import sign1
from enerlectra.senml import Reading, encode_readings
from tools.cluster import Gateway, build_firmware, provision_meter, start_meter

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"
# The virtual boards run their clocks a minute per second, so a reading a minute arrives every second and the
# evening cooking peak shows up within a short demo; their load follows a household's day, hour by hour.
SPEED = 60
DAY_PROFILE = [0.3, 0.3, 0.3, 0.3, 0.4, 0.8, 1.4, 1.2, 0.7, 0.6, 0.6, 0.7,
               0.8, 0.7, 0.6, 0.6, 0.8, 1.6, 2.2, 2.0, 1.6, 1.1, 0.6, 0.4]
HOUSEHOLDS = [  # (meter id, phone, average load in W): a few Lusaka homes
    ("mwansa", "+260971000001", 450),
    ("chilufya", "+260962000002", 1200),
    ("banda", "+260973000003", 250),
    ("phiri", "+260964000004", 800),
    ("tembo", "+260975000005", 600),
    ("zulu", "+260966000006", 350),
    ("mulenga", "+260977000007", 950),
    ("lungu", "+260968000008", 500),
]


async def show_attacks(gateway: Gateway, run: Path) -> None:
    """Plays someone on the network with a captured message, and prints what the gateway answers."""
    identity = provision_meter(gateway, run / "meters" / "lab", "lab", "+260979999999", firmware=None)
    client = await aiocoap.Context.create_client_context()
    uri = f"coap://127.0.0.1:{gateway.coap_port}/r"

    async def post(label: str, message: bytes) -> None:
        request = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=message)
        request.opt.content_format = 18
        response = await client.request(request).response
        print(f"  {label:48} {response.code} {response.payload.decode()}")

    try:
        reading = Reading(int(time.time()), 1, 1_000, 0, 200, 5_000)
        genuine = sign1(encode_readings(identity.kid, [reading]), identity.signing_key, identity.kid)
        await post("the lab meter's genuine reading", genuine)
        await post("the same bytes replayed", genuine)
        tampered = genuine.replace((1_000).to_bytes(2, "big"), (9_999).to_bytes(2, "big"))
        await post("captured, energy edited to 9999 Wh", tampered)
        stranger = sign1(encode_readings(identity.kid, [reading]), SigningKey.generate(), identity.kid)
        await post("signed with a stranger's key", stranger)
        older = sign1(encode_readings(identity.kid, [Reading(int(time.time()), 1, 50, 0, 0, 99_999)]),
                      identity.signing_key, identity.kid)
        await post("seq 1 reused with new content", older)
        lab = gateway.get("/api/meters/lab")
        print(f"  the lab meter: {lab['readings']} reading stored, energy {lab['energy_wh']} Wh")
    finally:
        await client.shutdown()


def print_totals(gateway: Gateway) -> None:
    header = f"{'meter':10} {'readings':>8} {'last seq':>8} {'energy Wh':>10} {'power W':>8} {'credit Wh':>10}"
    print(f"\n{time.strftime('%H:%M:%S')}  {header}")
    for meter in gateway.get("/api/meters"):
        print(f"          {meter['meter_id']:10} {meter['readings']:>8} {meter['last_seq']:>8} "
              f"{meter['energy_wh'] or 0:>10} {meter['power_w'] or 0:>8} {meter['credit_wh'] or 0:>10}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=5, choices=range(1, len(HOUSEHOLDS) + 1))
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: run until Ctrl-C)")
    parser.add_argument("--dir", type=Path, default=RUN, help="where the database and meters' flash go")
    args = parser.parse_args()

    run = args.dir
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    firmware = build_firmware(run / "firmware")
    gateway = Gateway(run / "gateway.db").start()
    print(f"gateway: CoAP port {gateway.coap_port}, HTTP API {gateway.http_url}/api/meters "
          f"(OpenAPI at {gateway.http_url}/schema/openapi.json)")
    meters = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for meter_id, phone, power_w in HOUSEHOLDS[: args.meters]:
            board = {"name": "virtual", "variant": "virtual",
                     "sim": {"speed": SPEED, "load": {"profile_w": [int(power_w * f) for f in DAY_PROFILE],
                                                      "step_s": 3600}}}
            provision_meter(gateway, run / "meters" / meter_id, meter_id, phone, board=board, firmware=firmware,
                            interval_s=60, credit_wh=20_000)
            meters.append((meter_id, start_meter(run / "meters" / meter_id, firmware)))
        print(f"{len(meters)} virtual meters running the firmware on the MicroPython unix port")
        print("someone on the network tries:")
        asyncio.run(show_attacks(gateway, run))
        started = time.monotonic()
        while not stopping and (not args.seconds or time.monotonic() - started < args.seconds):
            print_totals(gateway)
            for meter_id, process in meters:
                if process.poll() is not None:
                    print(f"  meter {meter_id} stopped (exit {process.returncode}):\n{process.stdout.read()[-600:]}")
                    stopping = True
            for _ in range(50):
                if stopping:
                    break
                time.sleep(0.1)
    finally:
        for _, process in meters:
            process.terminate()
        for _, process in meters:
            process.wait(timeout=10)
            process.stdout.close()
        gateway.stop()
        print(f"\nstopped; the database is {run / 'gateway.db'} "
              f"(try: .venv/bin/enerlectra-edge meter list --db {run / 'gateway.db'})")


if __name__ == "__main__":
    main()
