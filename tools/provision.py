"""Provision a meter: a fresh Ed25519 identity, its config file on flash, its registration with the gateway.

    python -m tools.provision --meter-id house-1 --phone +260971234567 --flash DIR \
        [--gateway 127.0.0.1] [--port 5683] [--register-url http://127.0.0.1:8080]

The seed never leaves the meter's flash folder; the gateway only learns the public key and kid.
"""

import argparse
import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from nacl.signing import SigningKey

KID_BYTES = 8


@dataclass(frozen=True)
class Identity:
    meter_id: str
    seed: bytes
    kid: bytes

    @property
    def public_key(self) -> bytes:
        return bytes(SigningKey(self.seed).verify_key)

    @property
    def signing_key(self) -> SigningKey:
        return SigningKey(self.seed)


def new_identity(meter_id: str) -> Identity:
    seed = os.urandom(32)
    # The kid names the key, not the person: a digest of the public key, short enough for every message.
    kid = hashlib.sha256(bytes(SigningKey(seed).verify_key)).digest()[:KID_BYTES]
    return Identity(meter_id, seed, kid)


def write_config(flash: Path, identity: Identity, gateway: str, port: int, **settings: int) -> Path:
    """Writes config.json into the meter's flash folder; `settings` are config.py's optional integers."""
    flash.mkdir(parents=True, exist_ok=True)
    fields = {"meter_id": identity.meter_id, "kid": identity.kid.hex(), "seed": identity.seed.hex(),
              "gateway": gateway, "port": port, **settings}
    path = flash / "config.json"
    path.write_text(json.dumps(fields, indent=1))
    return path


def registration(identity: Identity, phone: str) -> dict:
    return {"meter_id": identity.meter_id, "kid": identity.kid.hex(), "public_key": identity.public_key.hex(),
            "phone": phone}


def register_over_http(base_url: str, identity: Identity, phone: str) -> dict:
    """POSTs the meter to the gateway's HTTP API; raises RuntimeError with the gateway's reason on refusal."""
    request = urllib.request.Request(
        f"{base_url}/api/meters", data=json.dumps(registration(identity, phone)).encode(),
        headers={"content-type": "application/json"}, method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        raise RuntimeError(f"gateway refused {identity.meter_id}: {err.read().decode()}") from err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meter-id", required=True)
    parser.add_argument("--phone", required=True)
    parser.add_argument("--flash", type=Path, required=True, help="folder standing for the meter's flash")
    parser.add_argument("--gateway", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5683)
    parser.add_argument("--register-url", default="http://127.0.0.1:8080")
    args = parser.parse_args()
    identity = new_identity(args.meter_id)
    register_over_http(args.register_url, identity, args.phone)
    print("registered", args.meter_id, "kid", identity.kid.hex(), "config", write_config(args.flash, identity,
                                                                                          args.gateway, args.port))


if __name__ == "__main__":
    main()
