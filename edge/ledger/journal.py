"""Accounts and the journal: open accounts, post batches of transfers, read balances.

Contract
- `open_account(engine, owner, unit, may_go_negative=False) -> int` is idempotent on (owner, unit); it raises
  `AccountError` (a ValueError whose `code` names the rule) for bad input or an existing account with other flags.
- `post(engine, transfers) -> list[TransferResult]` applies up to `BATCH_TRANSFERS_MAX` transfers in ONE SQLite
  transaction and returns one result per transfer, in order. Rejections are result codes, never exceptions, and a
  rejected transfer stores nothing. The accepted ones are appended to the hash chain and the cached balances are
  updated in the same transaction: a crash leaves all of the batch or none of it. A retry of the same batch
  returns `exists` for every transfer and changes nothing.
- Raises only for programmer errors (a batch over the bound: ValueError; a broken invariant: AssertionError) and
  database failures (sqlite3 errors); in every such case nothing is committed.
"""

import sqlite3
import time
from collections.abc import Sequence

from sqlalchemy.engine import Engine

from edge.ledger._codec import GENESIS_HASH, entry_hash
from edge.ledger._db import chunks, placeholders, read_snapshot, write_transaction
from edge.ledger._rules import AccountState, Book, apply_batch
from edge.ledger.limits import BATCH_TRANSFERS_MAX, OWNER_BYTES_MAX
from edge.ledger.records import (
    UNITS,
    AccountBalance,
    Entry,
    Transfer,
    TransferFlags,
    TransferResult,
    post_pending_transfer,
    void_pending_transfer,
)
from enerlectra.invariant import invariant

_ENTRY_COLUMNS = "key, debit_account_id, credit_account_id, amount, unit, interval_id, kind, flags, pending_key"
_INSERT_ENTRY = (
    "INSERT INTO ledger_transfer (seq, key, debit_account_id, credit_account_id, amount, unit, interval_id, kind,"
    " flags, pending_key, timestamp_us, prev_hash, entry_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_UPDATE_BALANCE = (
    "UPDATE ledger_balance SET debits_pending = ?, debits_posted = ?, credits_pending = ?, credits_posted = ?"
    " WHERE account_id = ?"
)
_ACCOUNT_COLUMNS = (
    "a.id, a.owner, a.unit, a.may_go_negative, b.debits_pending, b.debits_posted, b.credits_pending, b.credits_posted"
)


class AccountError(ValueError):
    """An account could not be opened; `code` names the rule (e.g. `owner_must_not_be_empty`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def open_account(engine: Engine, owner: str, unit: str, *, may_go_negative: bool = False) -> int:
    """The id of the account of `owner` in `unit`, opening it (with zero totals) when it does not exist yet.

    `owner` is a member id or a system name (e.g. "system:mobile_money"). System accounts that are the other side
    of outside money or energy (the mobile-money operator, generation, the grid) need `may_go_negative=True`.
    """
    if not isinstance(owner, str) or not owner:
        raise AccountError("owner_must_not_be_empty", "an account needs an owner")
    if len(owner.encode()) > OWNER_BYTES_MAX:
        raise AccountError("owner_too_long", f"owner is longer than {OWNER_BYTES_MAX} bytes")
    if unit not in UNITS:
        raise AccountError("unit_must_be_ngwee_or_wh", f"unit {unit!r} is neither 'ngwee' nor 'wh'")
    if not isinstance(may_go_negative, bool):
        raise AccountError("may_go_negative_must_be_bool", "may_go_negative must be True or False")
    with write_transaction(engine) as cursor:
        cursor.execute(
            "SELECT id, may_go_negative FROM ledger_account WHERE owner = ? AND unit = ?", (owner, str(unit))
        )
        row = cursor.fetchone()
        if row is not None:
            if bool(row[1]) != may_go_negative:
                raise AccountError(
                    "exists_with_different_flags", f"account {row[0]} of {owner!r} in {unit} has other flags"
                )
            return row[0]
        cursor.execute(
            "INSERT INTO ledger_account (owner, unit, may_go_negative) VALUES (?, ?, ?)",
            (owner, str(unit), may_go_negative),
        )
        account_id = cursor.lastrowid
        invariant(isinstance(account_id, int) and account_id > 0, "a new account must get a positive id")
        cursor.execute(
            "INSERT INTO ledger_balance (account_id, debits_pending, debits_posted, credits_pending, credits_posted)"
            " VALUES (?, 0, 0, 0, 0)",
            (account_id,),
        )
        return account_id


def find_account(engine: Engine, owner: str, unit: str) -> int | None:
    with read_snapshot(engine) as cursor:
        cursor.execute("SELECT id FROM ledger_account WHERE owner = ? AND unit = ?", (owner, str(unit)))
        row = cursor.fetchone()
    return None if row is None else row[0]


def post(engine: Engine, transfers: Sequence[Transfer], *, timestamp_us: int | None = None) -> list[TransferResult]:
    """Post a batch in one transaction; one result per transfer (see the module docstring)."""
    transfers = list(transfers)
    if len(transfers) > BATCH_TRANSFERS_MAX:
        raise ValueError(f"a batch holds at most {BATCH_TRANSFERS_MAX} transfers, got {len(transfers)}")
    if not transfers:
        return []
    if timestamp_us is None:
        timestamp_us = time.time_ns() // 1000
    invariant(type(timestamp_us) is int, "timestamp_us must be an int")
    with write_transaction(engine) as cursor:
        return post_within(cursor, transfers, timestamp_us)


def post_pending(
    engine: Engine,
    key: str,
    pending_key: str,
    *,
    interval_id: str,
    amount: int = 0,
    kind: str = "post_pending",
) -> TransferResult:
    """Post the pending transfer `pending_key` (all of it when `amount` is 0); `key` makes the call idempotent."""
    transfer = post_pending_transfer(key, pending_key, interval_id=interval_id, kind=kind, amount=amount)
    return post(engine, [transfer])[0]


def void_pending(
    engine: Engine,
    key: str,
    pending_key: str,
    *,
    interval_id: str,
    kind: str = "void_pending",
) -> TransferResult:
    """Void the pending transfer `pending_key`, releasing its reservation; `key` makes the call idempotent."""
    return post(engine, [void_pending_transfer(key, pending_key, interval_id=interval_id, kind=kind)])[0]


def post_within(cursor: sqlite3.Cursor, transfers: list[Transfer], timestamp_us: int) -> list[TransferResult]:
    """Post a batch inside the caller's write transaction (a cursor from `write_transaction`); the caller commits.

    For callers that must commit transfers together with records of their own (a settlement and its rows).
    Same rules, results, hash chain and cached balances as `post`. Keep each call near BATCH_TRANSFERS_MAX (a
    larger job calls it several times in the one transaction, never splitting a linked chain across calls).
    """
    keys = {t.key for t in transfers if isinstance(t.key, str)}
    pending_keys = {t.pending_key for t in transfers if isinstance(t.pending_key, str)}
    committed = _load_entries(cursor, keys | pending_keys)
    resolutions = _load_resolutions(cursor, pending_keys)
    account_ids = {t.debit_account_id for t in transfers} | {t.credit_account_id for t in transfers}
    account_ids.update(e.debit_account_id for e in committed.values())
    account_ids.update(e.credit_account_id for e in committed.values())
    accounts = _load_accounts(cursor, [i for i in account_ids if type(i) is int])
    before = {account_id: account.totals() for account_id, account in accounts.items()}

    book = Book(accounts, committed, resolutions, remember_all=True)
    results, entries = apply_batch(book, transfers)
    _check_conserved(accounts, before, book.touched)
    if entries:
        _append(cursor, entries, timestamp_us)
        touched = [accounts[account_id] for account_id in sorted(book.touched)]
        cursor.executemany(_UPDATE_BALANCE, [(*a.totals(), a.account_id) for a in touched])
        invariant(cursor.rowcount == len(touched), "every touched account must have a cached balance row")
    return results


def _append(cursor: sqlite3.Cursor, entries: list[Entry], timestamp_us: int) -> None:
    """Chain `entries` onto the current head and insert them with one executemany."""
    cursor.execute("SELECT seq, entry_hash FROM ledger_transfer ORDER BY seq DESC LIMIT 1")
    head = cursor.fetchone()
    seq, prev_hash = (0, GENESIS_HASH) if head is None else head
    rows = []
    for e in entries:
        seq += 1
        # The hashed fields, in entry_bytes' order, are also the row's first columns.
        fields = (seq, e.key, e.debit_account_id, e.credit_account_id, e.amount, e.unit, e.interval_id, e.kind,
                  e.flags, e.pending_key, timestamp_us)
        digest = entry_hash(prev_hash, *fields)
        rows.append((*fields, prev_hash, digest))
        prev_hash = digest
    cursor.executemany(_INSERT_ENTRY, rows)
    invariant(cursor.rowcount == len(rows), "every accepted entry must be inserted")


def _check_conserved(accounts: dict[int, AccountState], before: dict, touched: set[int]) -> None:
    """Paired with the per-transfer rules: across a batch, what left some accounts arrived in others."""
    posted_change: dict[str, int] = {}
    pending_change: dict[str, int] = {}
    for account_id in touched:
        account = accounts[account_id]
        debits_pending, debits_posted, credits_pending, credits_posted = before[account_id]
        posted_change[account.unit] = posted_change.get(account.unit, 0) + (
            (account.credits_posted - credits_posted) - (account.debits_posted - debits_posted)
        )
        pending_change[account.unit] = pending_change.get(account.unit, 0) + (
            (account.credits_pending - credits_pending) - (account.debits_pending - debits_pending)
        )
        invariant(
            account.may_go_negative or account.credits_posted - account.debits_posted - account.debits_pending >= 0,
            f"account {account_id} must not go negative",
        )
    invariant(all(change == 0 for change in posted_change.values()), "posted money and energy must be conserved")
    invariant(all(change == 0 for change in pending_change.values()), "pending money and energy must be conserved")


def _load_entries(cursor: sqlite3.Cursor, keys: set[str]) -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for chunk in chunks(keys):
        cursor.execute(f"SELECT {_ENTRY_COLUMNS} FROM ledger_transfer WHERE key IN ({placeholders(len(chunk))})", chunk)
        for row in cursor:
            entries[row[0]] = Entry(*row)
    return entries


def _load_resolutions(cursor: sqlite3.Cursor, pending_keys: set[str]) -> dict[str, int]:
    resolutions: dict[str, int] = {}
    for chunk in chunks(pending_keys):
        cursor.execute(
            f"SELECT pending_key, flags FROM ledger_transfer WHERE pending_key IN ({placeholders(len(chunk))})",
            chunk,
        )
        resolutions.update(cursor.fetchall())
    return resolutions


def _load_accounts(cursor: sqlite3.Cursor, account_ids: list[int]) -> dict[int, AccountState]:
    accounts: dict[int, AccountState] = {}
    for chunk in chunks(account_ids):
        cursor.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_account a JOIN ledger_balance b ON b.account_id = a.id"
            f" WHERE a.id IN ({placeholders(len(chunk))})",
            chunk,
        )
        for row in cursor:
            accounts[row[0]] = AccountState(row[0], row[1], row[2], bool(row[3]), *row[4:])
    return accounts


def balances(engine: Engine) -> list[AccountBalance]:
    """Every account with its cached totals, by id. `verify` proves the cache equals the journal."""
    with read_snapshot(engine) as cursor:
        cursor.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_account a JOIN ledger_balance b ON b.account_id = a.id"
            " ORDER BY a.id"
        )
        rows = cursor.fetchall()
    return [AccountBalance(row[0], row[1], row[2], bool(row[3]), *row[4:]) for row in rows]


def balance(engine: Engine, account_id: int) -> AccountBalance | None:
    with read_snapshot(engine) as cursor:
        cursor.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM ledger_account a JOIN ledger_balance b ON b.account_id = a.id"
            " WHERE a.id = ?",
            (account_id,),
        )
        row = cursor.fetchone()
    return None if row is None else AccountBalance(row[0], row[1], row[2], bool(row[3]), *row[4:])


def get_transfer(engine: Engine, key: str) -> Entry | None:
    with read_snapshot(engine) as cursor:
        cursor.execute(f"SELECT {_ENTRY_COLUMNS} FROM ledger_transfer WHERE key = ?", (key,))
        row = cursor.fetchone()
    return None if row is None else Entry(*row)


def entries_for_interval(engine: Engine, interval_id: str) -> list[Entry]:
    """The entries posted under `interval_id`, in journal order."""
    with read_snapshot(engine) as cursor:
        cursor.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM ledger_transfer WHERE interval_id = ? ORDER BY seq", (interval_id,)
        )
        rows = cursor.fetchall()
    return [Entry(*row) for row in rows]


def pending_state(engine: Engine, key: str) -> str | None:
    """ "pending", "posted" or "voided" for the pending transfer `key`; None when `key` is not a pending transfer."""
    with read_snapshot(engine) as cursor:
        cursor.execute("SELECT flags FROM ledger_transfer WHERE key = ?", (key,))
        row = cursor.fetchone()
        if row is None or not row[0] & TransferFlags.PENDING:
            return None
        cursor.execute("SELECT flags FROM ledger_transfer WHERE pending_key = ?", (key,))
        resolution = cursor.fetchone()
    if resolution is None:
        return "pending"
    return "posted" if resolution[0] & TransferFlags.POST_PENDING else "voided"
