"""The gateway's own Ed25519 key: it signs ledger seals and every downlink a meter acts on (credit grants).

load_or_create_gateway_key(path) -> SigningKey
    Reads the 32-byte seed stored as hex in `path`; creates the file (mode 0600, written atomically) on first
    use. Raises GatewayKeyError for a file that exists but does not hold a seed: a gateway must never replace its
    identity silently, since meters and the cloud pin its public key.
"""

import os
from pathlib import Path

from nacl.signing import SigningKey


class GatewayKeyError(ValueError):
    """The key file exists but is not a 32-byte seed in hex."""


def load_or_create_gateway_key(path: str | Path) -> SigningKey:
    path = Path(path)
    if path.exists():
        text = path.read_text().strip()
        try:
            seed = bytes.fromhex(text)
        except ValueError as err:
            raise GatewayKeyError(f"{path}: not hexadecimal") from err
        if len(seed) != 32:
            raise GatewayKeyError(f"{path}: seed must be 32 bytes, found {len(seed)}")
        return SigningKey(seed)
    seed = os.urandom(32)
    temporary = path.with_suffix(path.suffix + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(seed.hex() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return SigningKey(seed)
