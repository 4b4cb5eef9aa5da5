"""Canonical bytes and hashes: the only encoding the chain and the seals are computed over.

Integers are fixed-width big-endian, text is UTF-8 with a 2-byte length prefix, so the encoding is injective and
independent of dict order or locale. Changing anything here changes every hash: bump the version byte instead.

Entry hash:   SHA-256(prev_hash || entry_bytes(...)), with `GENESIS_HASH` before the first entry.
Accounts:     SHA-256(ACCOUNTS_DOMAIN || account_bytes(1) || ... || account_bytes(n)), accounts in id order.
Seal message: SEAL_DOMAIN || ids and counts || head hash || accounts digest || previous seal digest || interval id.

>>> len(entry_hash(GENESIS_HASH, 1, "k", 1, 2, 100, "ngwee", "2026-01-01T00:00Z", "topup", 0, None, 0))
32
"""

import hashlib
import struct

from enerlectra.invariant import invariant

ENTRY_VERSION = 1
GENESIS_HASH = bytes(32)
ACCOUNTS_DOMAIN = b"enerlectra/ledger/accounts/v1"
SEAL_DOMAIN = b"enerlectra/ledger/seal/v1"

# version, seq, debit account, credit account, amount, flags, timestamp (microseconds since the Unix epoch)
_ENTRY_HEADER = struct.Struct(">BQQQQIq")
_ACCOUNT_HEADER = struct.Struct(">QB")
_SEAL_HEADER = struct.Struct(">QQQq")
_LENGTH = struct.Struct(">H")
_sha256 = hashlib.sha256


def _text(value: str) -> bytes:
    encoded = value.encode()
    return _LENGTH.pack(len(encoded)) + encoded


def entry_bytes(
    seq: int,
    key: str,
    debit_account_id: int,
    credit_account_id: int,
    amount: int,
    unit: str,
    interval_id: str,
    kind: str,
    flags: int,
    pending_key: str | None,
    timestamp_us: int,
) -> bytes:
    """The bytes an entry's hash covers. `pending_key` None encodes as "" (a pending key is never empty)."""
    return b"".join(
        (
            _ENTRY_HEADER.pack(ENTRY_VERSION, seq, debit_account_id, credit_account_id, amount, flags, timestamp_us),
            _text(key),
            _text(unit),
            _text(interval_id),
            _text(kind),
            _text(pending_key or ""),
        )
    )


def entry_hash(prev_hash: bytes, *fields) -> bytes:
    """SHA-256(prev_hash || entry_bytes(*fields)): links the entry at `seq` to everything before it.

    `fields` are entry_bytes' arguments, in its order (seq first).
    """
    invariant(len(prev_hash) == 32, "prev_hash must be a SHA-256 digest")
    return _sha256(prev_hash + entry_bytes(*fields)).digest()


def account_bytes(account_id: int, owner: str, unit: str, may_go_negative: bool) -> bytes:
    return _ACCOUNT_HEADER.pack(account_id, 1 if may_go_negative else 0) + _text(owner) + _text(unit)


def accounts_hasher():
    """A running SHA-256 over the accounts domain; feed it `account_bytes` in id order."""
    return _sha256(ACCOUNTS_DOMAIN)


def seal_message(seal) -> bytes:
    """The exact bytes the gateway signs for `seal` (any object with the `Seal` fields)."""
    invariant(len(seal.head_hash) == 32, "a seal's head hash must be a SHA-256 digest")
    invariant(len(seal.accounts_digest) == 32, "a seal's accounts digest must be a SHA-256 digest")
    invariant(len(seal.prev_seal_digest) == 32, "a seal's previous seal digest must be a SHA-256 digest")
    return b"".join(
        (
            SEAL_DOMAIN,
            _SEAL_HEADER.pack(seal.seal_id, seal.entries_count, seal.accounts_count, seal.sealed_at_us),
            seal.head_hash,
            seal.accounts_digest,
            seal.prev_seal_digest,
            _text(seal.interval_id),
        )
    )


def seal_digest(seal) -> bytes:
    """Links the next seal to this one: SHA-256 over this seal's message and signature."""
    return _sha256(seal_message(seal) + seal.signature).digest()
