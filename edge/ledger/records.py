"""The ledger's value types: units, transfer flags, result codes, transfers in and entries out.

A `Transfer` is what a caller asks for; an `Entry` is what the journal holds once it is accepted (for post/void
transfers the accounts, unit and amount are filled in from the pending transfer). A `TransferResult` names the rule
a rejected transfer broke; `ok` and `exists` are the two successes.
"""

from dataclasses import dataclass
from enum import IntFlag, StrEnum

from edge.ledger import _codec


class Unit(StrEnum):
    """Money is counted in ngwee (1 ZMW = 100 ngwee), energy in watt-hours. Both are integers."""

    NGWEE = "ngwee"
    WH = "wh"


UNITS = frozenset(unit.value for unit in Unit)


class TransferFlags(IntFlag):
    """At most one of PENDING, POST_PENDING, VOID_PENDING; LINKED may be combined with any of them.

    LINKED chains a transfer to the next one in the batch: a chain is every transfer up to and including the first
    without LINKED, and it is posted all-or-nothing. LINKED describes the batch, not the entry, so it is not stored.
    """

    NONE = 0
    LINKED = 1
    PENDING = 2
    POST_PENDING = 4
    VOID_PENDING = 8


FLAGS_KNOWN = TransferFlags.LINKED | TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING
FLAGS_PHASE = TransferFlags.PENDING | TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING
FLAGS_RESOLVE = TransferFlags.POST_PENDING | TransferFlags.VOID_PENDING


class TransferResult(StrEnum):
    """One code per rule; checked in the order listed (static checks, then idempotency, then the accounts)."""

    OK = "ok"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    KEY_MUST_NOT_BE_EMPTY = "key_must_not_be_empty"
    KEY_TOO_LONG = "key_too_long"
    FLAGS_MUST_BE_KNOWN = "flags_must_be_known"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    PENDING_KEY_MUST_BE_EMPTY = "pending_key_must_be_empty"
    PENDING_KEY_MUST_NOT_BE_EMPTY = "pending_key_must_not_be_empty"
    PENDING_KEY_MUST_BE_DIFFERENT = "pending_key_must_be_different"
    INTERVAL_ID_MUST_NOT_BE_EMPTY = "interval_id_must_not_be_empty"
    INTERVAL_ID_TOO_LONG = "interval_id_too_long"
    KIND_MUST_NOT_BE_EMPTY = "kind_must_not_be_empty"
    KIND_TOO_LONG = "kind_too_long"
    AMOUNT_MUST_BE_INTEGER = "amount_must_be_integer"
    AMOUNT_MUST_BE_POSITIVE = "amount_must_be_positive"
    AMOUNT_MUST_NOT_BE_NEGATIVE = "amount_must_not_be_negative"
    AMOUNT_TOO_LARGE = "amount_too_large"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    UNIT_MUST_BE_NGWEE_OR_WH = "unit_must_be_ngwee_or_wh"
    EXISTS_WITH_DIFFERENT_FIELDS = "exists_with_different_fields"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS = "exists"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_MUST_HAVE_THE_SAME_UNIT = "accounts_must_have_the_same_unit"
    UNIT_MUST_MATCH_ACCOUNTS = "unit_must_match_accounts"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT = "pending_transfer_has_different_debit_account"
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT = "pending_transfer_has_different_credit_account"
    PENDING_TRANSFER_HAS_DIFFERENT_UNIT = "pending_transfer_has_different_unit"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    TOTAL_WOULD_OVERFLOW = "total_would_overflow"

    @property
    def is_success(self) -> bool:
        """`ok` (posted now) and `exists` (posted earlier with identical fields) both mean the transfer is in."""
        return self is TransferResult.OK or self is TransferResult.EXISTS


@dataclass(frozen=True, slots=True)
class Transfer:
    """A request to move `amount` of `unit` from `debit_account_id` to `credit_account_id`.

    `key` is the idempotency key: unique across the journal, chosen by the caller so that a retry reuses it (for
    settlement: interval id + member + purpose). `interval_id` names the settlement interval; `kind` is a short
    label ("allocation", "trade", "topup", ...).

    For POST_PENDING / VOID_PENDING, `pending_key` names the pending transfer; the accounts may be 0 and the unit
    "" to take them from it, and `amount` 0 means the full pending amount (a smaller amount posts part and releases
    the rest; a void always releases all of it).
    """

    key: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    unit: str
    interval_id: str
    kind: str
    flags: TransferFlags = TransferFlags.NONE
    pending_key: str | None = None


def post_pending_transfer(
    key: str,
    pending_key: str,
    *,
    interval_id: str,
    kind: str = "post_pending",
    amount: int = 0,
    flags: TransferFlags = TransferFlags.NONE,
) -> Transfer:
    """A transfer that posts the pending transfer `pending_key` (all of it when `amount` is 0)."""
    return Transfer(key, 0, 0, amount, "", interval_id, kind, flags | TransferFlags.POST_PENDING, pending_key)


def void_pending_transfer(
    key: str,
    pending_key: str,
    *,
    interval_id: str,
    kind: str = "void_pending",
    flags: TransferFlags = TransferFlags.NONE,
) -> Transfer:
    """A transfer that voids the pending transfer `pending_key`, releasing its reservation."""
    return Transfer(key, 0, 0, 0, "", interval_id, kind, flags | TransferFlags.VOID_PENDING, pending_key)


@dataclass(frozen=True, slots=True)
class Entry:
    """An accepted transfer as the journal stores it: accounts, unit and a positive amount always filled in."""

    key: str
    debit_account_id: int
    credit_account_id: int
    amount: int
    unit: str
    interval_id: str
    kind: str
    flags: int
    pending_key: str | None


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """An account and its four running totals. `balance` is what it holds; `available` is what it may spend."""

    account_id: int
    owner: str
    unit: str
    may_go_negative: bool
    debits_pending: int
    debits_posted: int
    credits_pending: int
    credits_posted: int

    @property
    def balance(self) -> int:
        return self.credits_posted - self.debits_posted

    @property
    def available(self) -> int:
        return self.credits_posted - self.debits_posted - self.debits_pending


@dataclass(frozen=True, slots=True)
class Seal:
    """The gateway's signature over the chain head at the end of an interval.

    `message()` gives the exact signed bytes (send them and `signature` to the cloud); `digest()` links the next
    seal to this one, so seals form their own chain.
    """

    seal_id: int
    interval_id: str
    entries_count: int
    head_hash: bytes
    accounts_count: int
    accounts_digest: bytes
    prev_seal_digest: bytes
    sealed_at_us: int
    public_key: bytes
    signature: bytes

    def message(self) -> bytes:
        return _codec.seal_message(self)

    def digest(self) -> bytes:
        return _codec.seal_digest(self)
