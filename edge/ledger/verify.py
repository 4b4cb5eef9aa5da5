"""Audit: re-derive everything from the journal and check the hash chain, the seals and the cached balances.

`verify(engine, verify_key=None) -> VerifyReport` reads one snapshot and walks the journal from genesis:
1. sequence numbers run 1, 2, 3, ... (a deleted or renumbered row breaks this),
2. each row's prev_hash is the previous row's hash and its own hash matches its contents (an edited or swapped
   row breaks this; seq is hashed, so moving a row does too),
3. each entry obeys the ledger's rules when replayed from zero (the same code `post` uses),
4. each seal, at its position in the chain: ids run 1, 2, 3, ...; it links to the previous seal; its head hash is
   the chain's hash at that entry; its accounts digest matches accounts 1..n; its signature verifies with the
   public key stored beside it, and, when `verify_key` is given, that public key IS the gateway's key,
5. the cached balances equal the re-derived ones, account by account.
It stops at the first failure, so the report names the first bad entry (or seal, or account).

Limits of what can be detected locally: without `verify_key`, someone who rewrites history and re-signs with a
key of their own passes step 4 (pin the key, or compare with the seals the cloud holds); deleting entries after the
last seal together with their effect on the cached balances, or deleting the last seal, is only visible against
the cloud's copy of the seals. Key uniqueness is enforced by the UNIQUE index, not re-checked here (memory stays
bounded by the number of pending transfers, not the journal's length).
"""

import struct
from dataclasses import dataclass
from enum import StrEnum

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlalchemy.engine import Engine

from edge.ledger._codec import GENESIS_HASH, account_bytes, accounts_hasher, entry_hash
from edge.ledger._db import read_snapshot
from edge.ledger._rules import AccountState, Book
from edge.ledger.limits import VERIFY_FETCH_ROWS
from edge.ledger.records import UNITS, Entry, Seal, Transfer, TransferResult
from edge.ledger.seal import SEAL_COLUMNS
from enerlectra.invariant import invariant


class VerifyFailure(StrEnum):
    """Named after the rule the ledger broke."""

    ACCOUNT_IDS_MUST_BE_CONTIGUOUS = "account_ids_must_be_contiguous"
    ACCOUNT_MUST_BE_WELL_FORMED = "account_must_be_well_formed"
    SEQUENCE_MUST_BE_CONTIGUOUS = "sequence_must_be_contiguous"
    PREV_HASH_MUST_LINK_TO_PREVIOUS_ENTRY = "prev_hash_must_link_to_previous_entry"
    ENTRY_HASH_MUST_MATCH_CONTENTS = "entry_hash_must_match_contents"
    ENTRY_MUST_FOLLOW_LEDGER_RULES = "entry_must_follow_ledger_rules"
    SEAL_IDS_MUST_BE_CONTIGUOUS = "seal_ids_must_be_contiguous"
    SEALS_MUST_FOLLOW_CHAIN_ORDER = "seals_must_follow_chain_order"
    SEAL_MUST_LINK_TO_PREVIOUS_SEAL = "seal_must_link_to_previous_seal"
    SEAL_MUST_POINT_INTO_CHAIN = "seal_must_point_into_chain"
    SEAL_HEAD_MUST_MATCH_CHAIN = "seal_head_must_match_chain"
    SEAL_ACCOUNTS_MUST_MATCH = "seal_accounts_must_match"
    SEAL_KEY_MUST_BE_GATEWAY_KEY = "seal_key_must_be_gateway_key"
    SEAL_SIGNATURE_MUST_VERIFY = "seal_signature_must_verify"
    CACHED_BALANCE_MUST_MATCH_JOURNAL = "cached_balance_must_match_journal"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    entries_checked: int
    seals_checked: int
    accounts_checked: int
    key_pinned: bool
    failure: VerifyFailure | None = None
    entry_seq: int | None = None
    entry_key: str | None = None
    seal_id: int | None = None
    account_id: int | None = None
    detail: str = ""

    def line(self) -> str:
        """One line for a terminal or a log: the verdict, and for a failure the first bad entry/seal/account."""
        if self.ok:
            keys = "the pinned gateway key" if self.key_pinned else "the public keys stored with them (not pinned)"
            return (
                f"ledger ok: {self.entries_checked} entries, {self.seals_checked} seals,"
                f" {self.accounts_checked} accounts; seal signatures checked against {keys}"
            )
        if self.entry_seq is not None:
            where = f"entry {self.entry_seq}" + (f" (key {self.entry_key!r})" if self.entry_key else "")
        elif self.seal_id is not None:
            where = f"seal {self.seal_id}"
        elif self.account_id is not None:
            where = f"account {self.account_id}"
        else:
            where = "ledger"
        return f"ledger FAILED at {where}: {self.failure}: {self.detail}"


class _Failed(Exception):
    def __init__(self, failure: VerifyFailure, detail: str, **where) -> None:
        super().__init__(detail)
        self.failure, self.detail, self.where = failure, detail, where


class _Audit:
    """The walk's running state: counts so far, the chain hashes seals point at, the replay book."""

    def __init__(self, verify_key: VerifyKey | None) -> None:
        self.pinned = None if verify_key is None else bytes(verify_key)
        self.entries_checked = 0
        self.seals_checked = 0
        self.accounts_checked = 0
        self.account_digests: dict[int, bytes] = {}
        self.seals_by_id: dict[int, Seal] = {}

    def report(self, failure: _Failed | None = None) -> VerifyReport:
        counts = dict(
            entries_checked=self.entries_checked,
            seals_checked=self.seals_checked,
            accounts_checked=self.accounts_checked,
            key_pinned=self.pinned is not None,
        )
        if failure is None:
            return VerifyReport(ok=True, **counts)
        return VerifyReport(ok=False, failure=failure.failure, detail=failure.detail, **counts, **failure.where)


def verify(engine: Engine, verify_key: VerifyKey | None = None) -> VerifyReport:
    audit = _Audit(verify_key)
    with read_snapshot(engine) as cursor:
        try:
            accounts = _load_accounts(cursor, audit)
            pending_seals = _load_seals(cursor, audit)
            book = Book(accounts, {}, {}, remember_all=False)
            _walk_journal(cursor, audit, book, pending_seals)
            _compare_cached_balances(cursor, accounts)
        except _Failed as failed:
            return audit.report(failed)
    _check_conserved(accounts)
    return audit.report()


def _load_accounts(cursor, audit: _Audit) -> dict[int, AccountState]:
    """Accounts in id order, plus the running accounts digest after each one (for the seals)."""
    cursor.execute("SELECT id, owner, unit, may_go_negative FROM ledger_account ORDER BY id")
    accounts: dict[int, AccountState] = {}
    hasher = accounts_hasher()
    audit.account_digests[0] = hasher.digest()
    for account_id, owner, unit, may_go_negative in cursor.fetchall():
        expected = audit.accounts_checked + 1
        if account_id != expected:
            raise _Failed(
                VerifyFailure.ACCOUNT_IDS_MUST_BE_CONTIGUOUS,
                f"expected account {expected}, found account {account_id} (an account was deleted)",
                account_id=expected,
            )
        if unit not in UNITS or not owner or may_go_negative not in (0, 1):
            raise _Failed(
                VerifyFailure.ACCOUNT_MUST_BE_WELL_FORMED,
                f"owner {owner!r}, unit {unit!r}, may_go_negative {may_go_negative!r}",
                account_id=account_id,
            )
        hasher.update(account_bytes(account_id, owner, unit, bool(may_go_negative)))
        audit.account_digests[account_id] = hasher.digest()
        accounts[account_id] = AccountState(account_id, owner, unit, bool(may_go_negative))
        audit.accounts_checked = expected
    return accounts


def _load_seals(cursor, audit: _Audit) -> list[Seal]:
    """Seals sorted by their position in the chain (ties by id), so each is checked when the walk reaches it."""
    cursor.execute(f"SELECT {SEAL_COLUMNS} FROM ledger_seal ORDER BY seal_id")
    all_seals = [Seal(*row) for row in cursor.fetchall()]
    audit.seals_by_id = {seal.seal_id: seal for seal in all_seals}
    return sorted(all_seals, key=lambda seal: (seal.entries_count, seal.seal_id))


def _walk_journal(cursor, audit: _Audit, book: Book, pending_seals: list[Seal]) -> None:
    seal_index = 0
    while seal_index < len(pending_seals) and pending_seals[seal_index].entries_count == 0:
        _check_seal(pending_seals[seal_index], GENESIS_HASH, audit)
        seal_index += 1
    cursor.execute(
        "SELECT seq, key, debit_account_id, credit_account_id, amount, unit, interval_id, kind, flags, pending_key,"
        " timestamp_us, prev_hash, entry_hash FROM ledger_transfer ORDER BY seq"
    )
    expected_seq, prev_hash = 1, GENESIS_HASH
    while rows := cursor.fetchmany(VERIFY_FETCH_ROWS):
        for row in rows:
            seq, key = row[0], row[1]
            if seq != expected_seq:
                raise _Failed(
                    VerifyFailure.SEQUENCE_MUST_BE_CONTIGUOUS,
                    f"expected entry {expected_seq} after entry {expected_seq - 1}, found entry {seq}"
                    " (entries were deleted or renumbered)",
                    entry_seq=expected_seq,
                )
            if row[11] != prev_hash:
                raise _Failed(
                    VerifyFailure.PREV_HASH_MUST_LINK_TO_PREVIOUS_ENTRY,
                    f"prev_hash {_hex(row[11])} is not entry {seq - 1}'s hash {_hex(prev_hash)}"
                    " (rows were reordered, replaced or inserted)",
                    entry_seq=seq,
                    entry_key=key,
                )
            try:
                digest = entry_hash(prev_hash, *row[:11])
            except (struct.error, AttributeError, TypeError) as error:
                raise _Failed(
                    VerifyFailure.ENTRY_HASH_MUST_MATCH_CONTENTS,
                    f"the row holds a value of the wrong type ({error}): it was edited",
                    entry_seq=seq,
                    entry_key=key,
                ) from error
            if digest != row[12]:
                raise _Failed(
                    VerifyFailure.ENTRY_HASH_MUST_MATCH_CONTENTS,
                    f"stored hash {_hex(row[12])}, contents hash to {_hex(digest)} (the row was edited)",
                    entry_seq=seq,
                    entry_key=key,
                )
            _replay(book, row)
            audit.entries_checked = seq
            expected_seq, prev_hash = seq + 1, digest
            while seal_index < len(pending_seals) and pending_seals[seal_index].entries_count == seq:
                _check_seal(pending_seals[seal_index], digest, audit)
                seal_index += 1
    if seal_index < len(pending_seals):
        seal = pending_seals[seal_index]
        raise _Failed(
            VerifyFailure.SEAL_MUST_POINT_INTO_CHAIN,
            f"seal for interval {seal.interval_id!r} covers {seal.entries_count} entries but the journal has"
            f" {audit.entries_checked} (entries after {audit.entries_checked} were deleted)",
            seal_id=seal.seal_id,
        )


def _replay(book: Book, row: tuple) -> None:
    seq, key, debit, credit, amount, unit, interval_id, kind, flags, pending_key = row[:10]
    result, entry = book.apply(Transfer(key, debit, credit, amount, unit, interval_id, kind, flags, pending_key))
    if result is not TransferResult.OK:
        raise _Failed(
            VerifyFailure.ENTRY_MUST_FOLLOW_LEDGER_RULES,
            f"replaying it gives {result} (history was rewritten and re-hashed)",
            entry_seq=seq,
            entry_key=key,
        )
    stored = Entry(key, debit, credit, amount, unit, interval_id, kind, flags, pending_key)
    if entry != stored:
        raise _Failed(
            VerifyFailure.ENTRY_MUST_FOLLOW_LEDGER_RULES,
            f"stored fields differ from what the rules derive: {entry}",
            entry_seq=seq,
            entry_key=key,
        )


def _check_seal(seal: Seal, chain_hash: bytes, audit: _Audit) -> None:
    """Check one seal at its chain position; `chain_hash` is the journal's hash after its last entry."""
    where = {"seal_id": seal.seal_id}
    label = f"interval {seal.interval_id!r}"
    previous = audit.seals_by_id.get(seal.seal_id - 1)
    if seal.seal_id != 1 and previous is None:
        raise _Failed(
            VerifyFailure.SEAL_IDS_MUST_BE_CONTIGUOUS, f"{label}: seal {seal.seal_id - 1} is missing", **where
        )
    if previous is not None and previous.entries_count > seal.entries_count:
        raise _Failed(
            VerifyFailure.SEALS_MUST_FOLLOW_CHAIN_ORDER,
            f"{label}: covers {seal.entries_count} entries, fewer than seal {previous.seal_id}",
            **where,
        )
    expected_link = GENESIS_HASH if previous is None else previous.digest()
    if seal.prev_seal_digest != expected_link:
        raise _Failed(
            VerifyFailure.SEAL_MUST_LINK_TO_PREVIOUS_SEAL, f"{label}: previous seal digest does not match", **where
        )
    if seal.head_hash != chain_hash:
        raise _Failed(
            VerifyFailure.SEAL_HEAD_MUST_MATCH_CHAIN,
            f"{label}: signed head {_hex(seal.head_hash)} but entry {seal.entries_count} hashes to {_hex(chain_hash)}",
            **where,
        )
    if audit.account_digests.get(seal.accounts_count) != seal.accounts_digest:
        raise _Failed(
            VerifyFailure.SEAL_ACCOUNTS_MUST_MATCH,
            f"{label}: accounts 1..{seal.accounts_count} differ from the signed digest (an account was edited,"
            " deleted or its flags changed)",
            **where,
        )
    if audit.pinned is not None and seal.public_key != audit.pinned:
        raise _Failed(
            VerifyFailure.SEAL_KEY_MUST_BE_GATEWAY_KEY,
            f"{label}: signed by {_hex(seal.public_key)}, not the gateway key {_hex(audit.pinned)}",
            **where,
        )
    try:
        VerifyKey(seal.public_key).verify(seal.message(), seal.signature)
    except (BadSignatureError, ValueError, TypeError) as error:
        raise _Failed(
            VerifyFailure.SEAL_SIGNATURE_MUST_VERIFY, f"{label}: {type(error).__name__}: {error}", **where
        ) from error
    audit.seals_checked += 1


def _compare_cached_balances(cursor, accounts: dict[int, AccountState]) -> None:
    cursor.execute(
        "SELECT account_id, debits_pending, debits_posted, credits_pending, credits_posted FROM ledger_balance"
        " ORDER BY account_id"
    )
    cached = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
    for account_id, account in accounts.items():
        stored = cached.pop(account_id, None)
        if stored != account.totals():
            raise _Failed(
                VerifyFailure.CACHED_BALANCE_MUST_MATCH_JOURNAL,
                f"cached (debits_pending, debits_posted, credits_pending, credits_posted) = {stored},"
                f" journal gives {account.totals()}",
                account_id=account_id,
            )
    if cached:
        orphan = min(cached)
        raise _Failed(
            VerifyFailure.CACHED_BALANCE_MUST_MATCH_JOURNAL, "a cached balance has no account", account_id=orphan
        )


def _check_conserved(accounts: dict[int, AccountState]) -> None:
    """Holds by construction of the replay; a failure here is a bug in the rules, not in the data."""
    for unit in UNITS:
        of_unit = [a for a in accounts.values() if a.unit == unit]
        invariant(sum(a.credits_posted - a.debits_posted for a in of_unit) == 0, f"{unit} posted must sum to zero")
        invariant(sum(a.credits_pending - a.debits_pending for a in of_unit) == 0, f"{unit} pending must sum to zero")


def _hex(value: bytes) -> str:
    return value.hex()[:16] + "…" if isinstance(value, bytes) else repr(value)
