"""Write a meter's outbox on the host, in the firmware's own file format (firmware/meter/outbox.py), signed with
the meter's key: a backlog for benchmarks and tests without running the meter through the days it stands for.

    write_outbox(flash, identity, readings, pack_readings=32)

Each pack: header "<2sHIII" (b"P1", count, first time, last time, last seq), records "<7I" (time, seq, energy,
energy out, power, credit, depletion or 0xFFFFFFFF), the Ed25519 signature of the COSE Sig_structure of the
SenML pack (enerlectra.senml.encode_readings: the same bytes the meter's pack.py writes), and a CRC-32 of all
that; then the COSE_Sign1 message (enerlectra.cose.sign1) and its own CRC-32. Named by the first seq. The meter
sends it as it would one it closed itself; the gateway verifies it.
"""

import struct
import zlib
from pathlib import Path

from enerlectra.cose import sign1
from enerlectra.senml import Reading, encode_readings
from tools.provision import Identity

NO_FORECAST = 0xFFFFFFFF


def write_outbox(flash: Path, identity: Identity, readings: list[Reading], pack_readings: int = 32) -> int:
    """Writes `readings` as closed packs into flash/ob; returns the number of packs."""
    folder = flash / "ob"
    folder.mkdir(parents=True, exist_ok=True)
    key = identity.signing_key
    packs = 0
    for start in range(0, len(readings), pack_readings):
        pack = readings[start : start + pack_readings]
        message = sign1(encode_readings(identity.kid, pack), key, identity.kid)
        signature = message[-64:]
        header = struct.pack("<2sHIII", b"P1", len(pack), pack[0].time_s, pack[-1].time_s, pack[-1].seq)
        records = b"".join(struct.pack("<7I", r.time_s, r.seq, r.energy_wh, r.energy_out_wh, r.power_w, r.credit_wh,
                                       NO_FORECAST if r.depletion_s is None else r.depletion_s) for r in pack)
        body = header + records + signature
        (folder / f"{pack[0].seq:010d}").write_bytes(body + struct.pack("<I", zlib.crc32(body)) + message
                                                     + struct.pack("<I", zlib.crc32(message)))
        packs += 1
    return packs
