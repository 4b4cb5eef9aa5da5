"""The gateway's double-entry ledger: wallets in ngwee and Wh, derived from a hash-chained, signed journal.

Model
- An account belongs to an owner (a member id or a system name) and holds one unit, "ngwee" or "wh". Accounts are
  append-only and never change. Only accounts opened with `may_go_negative=True` (the mobile-money operator,
  generation, the grid, ...) may have a negative available balance.
- A transfer moves a positive integer amount from its debit account to its credit account (same unit). Every entry
  therefore balances by construction, and the sum of all balances of a unit is always zero.
- Each account keeps four totals (debits/credits, pending/posted); `balance = credits_posted - debits_posted`,
  `available = balance - debits_pending`. The totals are cached in `ledger_balance`, updated in the same
  transaction as the journal; `verify` re-derives them from the journal.
- Pending (two-phase) transfers reserve funds (`TransferFlags.PENDING`); a later POST_PENDING transfer posts all
  or part of the reservation, a VOID_PENDING transfer releases it. Each pending transfer is resolved at most once.
- Idempotency: every transfer carries a caller-chosen `key`, unique across the journal. Posting it again with the
  same fields returns `exists` and stores nothing; with other fields `exists_with_different_amount` or
  `exists_with_different_fields`. Rejected transfers store nothing, so their key stays free for a corrected retry.
- Linked chains (`TransferFlags.LINKED`) are all-or-nothing, e.g. a trade's money leg and energy leg.
- Hash chain: entry n stores prev_hash = hash(n-1) and hash(n) = SHA-256(prev_hash || canonical bytes of entry n,
  including n). `seal_interval` signs the head with the gateway's Ed25519 key.

Entry points (all take a SQLAlchemy engine from `edge.db.make_engine`, with the schema created):
`open_account`, `find_account`, `post`, `post_pending`, `void_pending`, `balances`, `balance`, `get_transfer`,
`entries_for_interval`, `pending_state`, `seal_interval`, `seals`, `verify`. The CLI group is in `commands`.
"""

from edge.ledger import tables
from edge.ledger._db import write_transaction
from edge.ledger.journal import (
    AccountError,
    balance,
    balances,
    entries_for_interval,
    find_account,
    get_transfer,
    open_account,
    pending_state,
    post,
    post_pending,
    post_within,
    void_pending,
)
from edge.ledger.records import (
    UNITS,
    AccountBalance,
    Entry,
    Seal,
    Transfer,
    TransferFlags,
    TransferResult,
    Unit,
    post_pending_transfer,
    void_pending_transfer,
)
from edge.ledger.seal import seal_interval, seals
from edge.ledger.verify import VerifyFailure, VerifyReport, verify

__all__ = (
    "UNITS",
    "AccountBalance",
    "AccountError",
    "Entry",
    "Seal",
    "Transfer",
    "TransferFlags",
    "TransferResult",
    "Unit",
    "VerifyFailure",
    "VerifyReport",
    "balance",
    "balances",
    "entries_for_interval",
    "find_account",
    "get_transfer",
    "open_account",
    "pending_state",
    "post",
    "post_pending",
    "post_pending_transfer",
    "post_within",
    "seal_interval",
    "seals",
    "tables",
    "verify",
    "void_pending",
    "void_pending_transfer",
    "write_transaction",
)
