"""One write transaction holding both ledger transfers and the gateway's own records (orders, settlements, ...).

    with open_books(engine) as books:
        books.require([...transfers...])           # every transfer must succeed, or LedgerRejection
        books.cursor.execute("UPDATE market_order ...")
    # committed together here; any exception rolls everything back

Why this exists: a settlement must commit an interval's transfers *and* its records (who was allocated what,
trades, meter positions, order states) together, so that a crash (kill -9) leaves either all of the interval or
none of it; the same holds for placing an order (its row and its reservation). `edge.ledger.post` commits its own
transaction and accepts at most `BATCH_TRANSFERS_MAX` transfers, while one interval of a 10,000-member cluster
needs more (an allocation per member plus trades). So this module posts chunks with `edge.ledger.post_within`
(the same checks, hash chain and cached balances as `post`) inside one transaction it opens with the ledger's
`write_transaction` (BEGIN IMMEDIATE); tests/edge/test_bookkeeping.py pins the behaviour it relies on.

Contract
- `Books.post(transfers)` → one TransferResult per transfer, like `edge.ledger.post`, in chunks of at most
  `BATCH_TRANSFERS_MAX` (a linked chain is never split across chunks). Rejections are result codes.
- `Books.require(transfers)` → raises `LedgerRejection` (and so rolls the whole transaction back) unless every
  transfer is `ok` or `exists`.
- `Books.available(account_ids)` → {account_id: available balance} as of this transaction.
"""

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from edge.ledger import Transfer, TransferFlags, TransferResult, post_within, write_transaction
from edge.ledger._db import chunks, placeholders
from edge.ledger.limits import BATCH_TRANSFERS_MAX
from enerlectra.invariant import invariant


class LedgerRejection(Exception):
    """A transfer the caller required was rejected; the transaction it belonged to is rolled back."""

    def __init__(self, transfer: Transfer, result: TransferResult) -> None:
        super().__init__(f"transfer {transfer.key!r} ({transfer.kind}) rejected: {result.value}")
        self.transfer = transfer
        self.result = result


@dataclass
class Books:
    cursor: object  # sqlite3.Cursor inside BEGIN IMMEDIATE
    timestamp_us: int
    posted_count: int = 0  # transfers stored by this transaction (`ok`), for summaries

    def post(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        results: list[TransferResult] = []
        for chunk in _chain_aligned_chunks(transfers, BATCH_TRANSFERS_MAX):
            results.extend(post_within(self.cursor, chunk, self.timestamp_us))
        invariant(len(results) == len(transfers), "one result per transfer")
        self.posted_count += sum(1 for result in results if result is TransferResult.OK)
        return results

    def require(self, transfers: Sequence[Transfer]) -> list[TransferResult]:
        results = self.post(transfers)
        for transfer, result in zip(transfers, results, strict=True):
            if not result.is_success:
                raise LedgerRejection(transfer, _root_cause(transfers, results, transfer, result))
        return results

    def available(self, account_ids: Iterable[int]) -> dict[int, int]:
        found: dict[int, int] = {}
        for chunk in chunks(set(account_ids)):
            self.cursor.execute(
                "SELECT account_id, credits_posted - debits_posted - debits_pending FROM ledger_balance"
                f" WHERE account_id IN ({placeholders(len(chunk))})",
                chunk,
            )
            found.update(self.cursor.fetchall())
        return found


def _root_cause(transfers, results, transfer, result) -> TransferResult:
    """For a failed linked chain, the code of the member that broke a rule (not `linked_event_failed`)."""
    if result is not TransferResult.LINKED_EVENT_FAILED:
        return result
    for other in results:
        if not other.is_success and other is not TransferResult.LINKED_EVENT_FAILED:
            return other
    return result


def _chain_aligned_chunks(transfers: Sequence[Transfer], size: int) -> Iterator[list[Transfer]]:
    chunk: list[Transfer] = []
    for transfer in transfers:
        chunk.append(transfer)
        if len(chunk) >= size - 1 and not int(transfer.flags) & TransferFlags.LINKED:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def open_books(engine: Engine, *, timestamp_us: int | None = None) -> Iterator[Books]:
    """A write transaction (BEGIN IMMEDIATE) committed when the block ends, rolled back on any exception."""
    if timestamp_us is None:
        timestamp_us = time.time_ns() // 1000
    with write_transaction(engine) as cursor:
        yield Books(cursor, timestamp_us)
