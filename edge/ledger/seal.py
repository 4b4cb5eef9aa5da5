"""Sealing: the gateway signs the journal's head at the end of each settlement interval.

`seal_interval(engine, interval_id, signing_key) -> Seal` signs (seal id, entries count, head hash, a digest of
all accounts, the previous seal's digest, the interval id, the time) with the gateway's Ed25519 key and stores it.
It is idempotent: sealing an interval that already has a seal returns that seal unchanged. The caller passes the
key (key files belong to another module); the public key is stored beside each signature.
"""

import time
from dataclasses import replace

from nacl.signing import SigningKey, VerifyKey
from sqlalchemy.engine import Engine

from edge.ledger._codec import GENESIS_HASH, account_bytes, accounts_hasher
from edge.ledger._db import read_snapshot, write_transaction
from edge.ledger.limits import INTERVAL_ID_BYTES_MAX
from edge.ledger.records import Seal
from enerlectra.invariant import invariant

SEAL_COLUMNS = (
    "seal_id, interval_id, entries_count, head_hash, accounts_count, accounts_digest, prev_seal_digest,"
    " sealed_at_us, public_key, signature"
)


def seal_interval(
    engine: Engine, interval_id: str, signing_key: SigningKey, *, sealed_at_us: int | None = None
) -> Seal:
    if not isinstance(interval_id, str) or not interval_id:
        raise ValueError("interval_id_must_not_be_empty")
    if len(interval_id.encode()) > INTERVAL_ID_BYTES_MAX:
        raise ValueError("interval_id_too_long")
    if sealed_at_us is None:
        sealed_at_us = time.time_ns() // 1000
    with write_transaction(engine) as cursor:
        cursor.execute(f"SELECT {SEAL_COLUMNS} FROM ledger_seal WHERE interval_id = ?", (interval_id,))
        row = cursor.fetchone()
        if row is not None:
            return Seal(*row)
        cursor.execute("SELECT seq, entry_hash FROM ledger_transfer ORDER BY seq DESC LIMIT 1")
        head = cursor.fetchone()
        entries_count, head_hash = (0, GENESIS_HASH) if head is None else head
        cursor.execute("SELECT id, owner, unit, may_go_negative FROM ledger_account ORDER BY id")
        hasher = accounts_hasher()
        accounts_count = 0
        for account_id, owner, unit, may_go_negative in cursor.fetchall():
            accounts_count += 1
            invariant(account_id == accounts_count, "account ids must run 1, 2, 3, ... (accounts are never deleted)")
            hasher.update(account_bytes(account_id, owner, unit, bool(may_go_negative)))
        cursor.execute(f"SELECT {SEAL_COLUMNS} FROM ledger_seal ORDER BY seal_id DESC LIMIT 1")
        previous_row = cursor.fetchone()
        previous = None if previous_row is None else Seal(*previous_row)
        if previous is not None:
            invariant(previous.entries_count <= entries_count, "the journal must never shrink below a seal")
        unsigned = Seal(
            seal_id=1 if previous is None else previous.seal_id + 1,
            interval_id=interval_id,
            entries_count=entries_count,
            head_hash=head_hash,
            accounts_count=accounts_count,
            accounts_digest=hasher.digest(),
            prev_seal_digest=GENESIS_HASH if previous is None else previous.digest(),
            sealed_at_us=sealed_at_us,
            public_key=bytes(signing_key.verify_key),
            signature=b"",
        )
        message = unsigned.message()
        seal = replace(unsigned, signature=signing_key.sign(message).signature)
        # Pair the signing with a verification, so a bad key object can never store an unverifiable seal.
        VerifyKey(seal.public_key).verify(message, seal.signature)
        cursor.execute(
            f"INSERT INTO ledger_seal ({SEAL_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                seal.seal_id,
                seal.interval_id,
                seal.entries_count,
                seal.head_hash,
                seal.accounts_count,
                seal.accounts_digest,
                seal.prev_seal_digest,
                seal.sealed_at_us,
                seal.public_key,
                seal.signature,
            ),
        )
        return seal


def seals(engine: Engine) -> list[Seal]:
    """Every seal, oldest first (for uploading to the cloud)."""
    with read_snapshot(engine) as cursor:
        cursor.execute(f"SELECT {SEAL_COLUMNS} FROM ledger_seal ORDER BY seal_id")
        rows = cursor.fetchall()
    return [Seal(*row) for row in rows]
