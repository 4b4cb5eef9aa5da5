"""The ledger's rules, applied one transfer at a time to in-memory account state (a `Book`).

One implementation serves the writer and the auditor: `post` applies incoming transfers to a Book seeded from the
database, and `verify` replays the stored journal through a Book seeded with zero totals, so a stored entry is
valid exactly when `post` would have accepted it.

Balance model (TigerBeetle's): each account keeps debits/credits, pending/posted. `balance = credits_posted -
debits_posted`; `available = balance - debits_pending`. An account without `may_go_negative` never has
`available < 0`. A transfer moves value out of its debit account into its credit account, so the sum of all
balances of one unit is zero at all times, and so is the sum of (credits_pending - debits_pending).
"""

from dataclasses import dataclass

from edge.ledger.limits import (
    AMOUNT_MAX,
    INTERVAL_ID_BYTES_MAX,
    KEY_BYTES_MAX,
    KIND_BYTES_MAX,
    TOTAL_MAX,
)
from edge.ledger.records import (
    FLAGS_KNOWN,
    FLAGS_PHASE,
    FLAGS_RESOLVE,
    UNITS,
    Entry,
    Transfer,
    TransferFlags,
)
from edge.ledger.records import TransferResult as R
from enerlectra.invariant import invariant

_LINKED = int(TransferFlags.LINKED)
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING)
_VOID = int(TransferFlags.VOID_PENDING)
_PHASE = int(FLAGS_PHASE)
_RESOLVE = int(FLAGS_RESOLVE)
_UNKNOWN = ~int(FLAGS_KNOWN)


@dataclass(slots=True)
class AccountState:
    account_id: int
    owner: str
    unit: str
    may_go_negative: bool
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0

    def totals(self) -> tuple[int, int, int, int]:
        return (self.debits_pending, self.debits_posted, self.credits_pending, self.credits_posted)


def check_static(t: Transfer) -> R | None:
    """The rules that need no state; None when the transfer passes them all."""
    key = t.key
    if not isinstance(key, str) or not key:
        return R.KEY_MUST_NOT_BE_EMPTY
    if len(key.encode()) > KEY_BYTES_MAX:
        return R.KEY_TOO_LONG
    flags = int(t.flags)
    if flags & _UNKNOWN:
        return R.FLAGS_MUST_BE_KNOWN
    phase = flags & _PHASE
    if phase & (phase - 1):
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    resolving = bool(phase & _RESOLVE)
    pending_key = t.pending_key
    if not resolving and pending_key is not None:
        return R.PENDING_KEY_MUST_BE_EMPTY
    if resolving and (not isinstance(pending_key, str) or not pending_key):
        return R.PENDING_KEY_MUST_NOT_BE_EMPTY
    if resolving and pending_key == key:
        return R.PENDING_KEY_MUST_BE_DIFFERENT
    if not isinstance(t.interval_id, str) or not t.interval_id:
        return R.INTERVAL_ID_MUST_NOT_BE_EMPTY
    if len(t.interval_id.encode()) > INTERVAL_ID_BYTES_MAX:
        return R.INTERVAL_ID_TOO_LONG
    if not isinstance(t.kind, str) or not t.kind:
        return R.KIND_MUST_NOT_BE_EMPTY
    if len(t.kind.encode()) > KIND_BYTES_MAX:
        return R.KIND_TOO_LONG
    amount = t.amount
    if type(amount) is not int:  # bool is an int subclass and float is never money: both rejected here
        return R.AMOUNT_MUST_BE_INTEGER
    if resolving and amount < 0:
        return R.AMOUNT_MUST_NOT_BE_NEGATIVE
    if not resolving and amount <= 0:
        return R.AMOUNT_MUST_BE_POSITIVE
    if amount > AMOUNT_MAX:
        return R.AMOUNT_TOO_LARGE
    if t.debit_account_id == t.credit_account_id and not (resolving and t.debit_account_id == 0):
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    if t.unit not in UNITS and not (resolving and t.unit == ""):
        return R.UNIT_MUST_BE_NGWEE_OR_WH
    return None


def compare_existing(t: Transfer, stored_flags: int, existing: Entry) -> R:
    """`exists` when a retry carries the same fields; zeros in a post/void mean "as the pending transfer"."""
    resolving = bool(stored_flags & _RESOLVE)
    same_fields = (
        stored_flags == existing.flags
        and t.pending_key == existing.pending_key
        and t.interval_id == existing.interval_id
        and t.kind == existing.kind
        and (t.debit_account_id == existing.debit_account_id or (resolving and t.debit_account_id == 0))
        and (t.credit_account_id == existing.credit_account_id or (resolving and t.credit_account_id == 0))
        and (t.unit == existing.unit or (resolving and t.unit == ""))
    )
    if not same_fields:
        return R.EXISTS_WITH_DIFFERENT_FIELDS
    if t.amount != existing.amount and not (resolving and t.amount == 0):
        return R.EXISTS_WITH_DIFFERENT_AMOUNT
    return R.EXISTS


class Book:
    """Account state plus the transfers a batch can refer to, with undo for linked chains.

    `committed` maps keys to entries already in the journal (the writer loads the ones its batch mentions);
    `resolutions` maps a pending key to the flags of the entry that posted or voided it. With `remember_all`
    False (the auditor), only pending entries are remembered, which keeps memory bounded by pending transfers.
    """

    __slots__ = ("_undo", "accounts", "added", "committed", "remember_all", "resolutions", "touched")

    def __init__(
        self,
        accounts: dict[int, AccountState],
        committed: dict[str, Entry],
        resolutions: dict[str, int],
        *,
        remember_all: bool,
    ) -> None:
        self.accounts = accounts
        self.committed = committed
        self.resolutions = resolutions
        self.remember_all = remember_all
        self.added: dict[str, Entry] = {}
        self.touched: set[int] = set()
        self._undo: list[tuple] | None = None

    # Linked chains: everything applied between begin and rollback is undone; commit keeps it.

    def chain_begin(self) -> None:
        invariant(self._undo is None, "linked chains must not nest")
        self._undo = []

    def chain_commit(self) -> None:
        invariant(self._undo is not None, "a chain must be open to commit it")
        self._undo = None

    def chain_rollback(self) -> None:
        invariant(self._undo is not None, "a chain must be open to roll it back")
        for kind, subject, value in reversed(self._undo):
            if kind == "account":
                subject.debits_pending, subject.debits_posted, subject.credits_pending, subject.credits_posted = value
            elif kind == "added":
                del self.added[subject]
            else:
                del self.resolutions[subject]
        self._undo = None

    def _save(self, account: AccountState) -> None:
        if self._undo is not None:
            self._undo.append(("account", account, account.totals()))
        self.touched.add(account.account_id)

    def _remember(self, entry: Entry) -> None:
        if self.remember_all or entry.flags & _PENDING:
            self.added[entry.key] = entry
            if self._undo is not None:
                self._undo.append(("added", entry.key, None))

    def _resolve(self, pending_key: str, flags: int) -> None:
        self.resolutions[pending_key] = flags
        if self._undo is not None:
            self._undo.append(("resolution", pending_key, None))

    def lookup(self, key: str) -> Entry | None:
        entry = self.added.get(key)
        return entry if entry is not None else self.committed.get(key)

    def apply(self, t: Transfer) -> tuple[R, Entry | None]:
        """Check `t` against every rule and, if it passes, apply it; returns the result and the entry to store."""
        result = check_static(t)
        if result is not None:
            return result, None
        flags = int(t.flags) & ~_LINKED
        existing = self.lookup(t.key)
        if existing is not None:
            return compare_existing(t, flags, existing), None
        if flags & _RESOLVE:
            return self._apply_resolve(t, flags)
        return self._apply_new(t, flags)

    def _apply_new(self, t: Transfer, flags: int) -> tuple[R, Entry | None]:
        debit = self.accounts.get(t.debit_account_id)
        if debit is None:
            return R.DEBIT_ACCOUNT_NOT_FOUND, None
        credit = self.accounts.get(t.credit_account_id)
        if credit is None:
            return R.CREDIT_ACCOUNT_NOT_FOUND, None
        if debit.unit != credit.unit:
            return R.ACCOUNTS_MUST_HAVE_THE_SAME_UNIT, None
        if t.unit != debit.unit:
            return R.UNIT_MUST_MATCH_ACCOUNTS, None
        amount = t.amount
        available = debit.credits_posted - debit.debits_posted - debit.debits_pending
        if not debit.may_go_negative and available < amount:
            return R.INSUFFICIENT_FUNDS, None
        pending = bool(flags & _PENDING)
        if pending and (debit.debits_pending + amount > TOTAL_MAX or credit.credits_pending + amount > TOTAL_MAX):
            return R.TOTAL_WOULD_OVERFLOW, None
        if not pending and (debit.debits_posted + amount > TOTAL_MAX or credit.credits_posted + amount > TOTAL_MAX):
            return R.TOTAL_WOULD_OVERFLOW, None
        self._save(debit)
        self._save(credit)
        if pending:
            debit.debits_pending += amount
            credit.credits_pending += amount
        else:
            debit.debits_posted += amount
            credit.credits_posted += amount
        invariant(
            debit.may_go_negative or debit.credits_posted - debit.debits_posted - debit.debits_pending >= 0,
            "an account without may_go_negative must never have a negative available balance",
        )
        entry = Entry(
            t.key,
            debit.account_id,
            credit.account_id,
            amount,
            debit.unit,
            t.interval_id,
            t.kind,
            flags,
            None,
        )
        self._remember(entry)
        return R.OK, entry

    def _apply_resolve(self, t: Transfer, flags: int) -> tuple[R, Entry | None]:
        pending_key = t.pending_key
        pending = self.lookup(pending_key)
        if pending is None:
            return R.PENDING_TRANSFER_NOT_FOUND, None
        if not pending.flags & _PENDING:
            return R.PENDING_TRANSFER_NOT_PENDING, None
        resolution = self.resolutions.get(pending_key)
        if resolution is not None:
            posted = bool(resolution & _POST)
            return (R.PENDING_TRANSFER_ALREADY_POSTED if posted else R.PENDING_TRANSFER_ALREADY_VOIDED), None
        if t.debit_account_id != 0 and t.debit_account_id != pending.debit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT, None
        if t.credit_account_id != 0 and t.credit_account_id != pending.credit_account_id:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT, None
        if t.unit != "" and t.unit != pending.unit:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_UNIT, None
        reserved = pending.amount
        post = bool(flags & _POST)
        if post and t.amount > reserved:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT, None
        if not post and t.amount != 0 and t.amount != reserved:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT, None
        amount = (t.amount or reserved) if post else reserved
        debit = self.accounts.get(pending.debit_account_id)
        credit = self.accounts.get(pending.credit_account_id)
        invariant(debit is not None, "a pending transfer's debit account must be loaded")
        invariant(credit is not None, "a pending transfer's credit account must be loaded")
        invariant(debit.debits_pending >= reserved, "a reservation must still be held by its debit account")
        invariant(credit.credits_pending >= reserved, "a reservation must still be held by its credit account")
        if post and (debit.debits_posted + amount > TOTAL_MAX or credit.credits_posted + amount > TOTAL_MAX):
            return R.TOTAL_WOULD_OVERFLOW, None
        self._save(debit)
        self._save(credit)
        debit.debits_pending -= reserved
        credit.credits_pending -= reserved
        if post:
            # Posting no more than was reserved can only raise `available`: no funds check is needed here.
            debit.debits_posted += amount
            credit.credits_posted += amount
        entry = Entry(
            t.key,
            debit.account_id,
            credit.account_id,
            amount,
            pending.unit,
            t.interval_id,
            t.kind,
            flags,
            pending_key,
        )
        self._resolve(pending_key, flags)
        self._remember(entry)
        return R.OK, entry


def apply_batch(book: Book, transfers: list[Transfer]) -> tuple[list[R], list[Entry]]:
    """Apply a batch in order, honouring linked chains; returns one result per transfer and the entries to store.

    A chain fails as a whole: the transfer that broke a rule keeps its own code and every other member of the
    chain gets `linked_event_failed`; a chain still open at the end of the batch gets `linked_event_chain_open`
    on its last transfer. `exists` counts as success inside a chain, so retrying a whole chain is a no-op.
    """
    results: list[R | None] = [None] * len(transfers)
    entries: list[Entry] = []
    chain_start: int | None = None
    chain_entries_count = 0
    chain_failed = False
    for index, transfer in enumerate(transfers):
        linked = bool(int(transfer.flags) & _LINKED)
        if chain_start is None and linked:
            chain_start, chain_entries_count, chain_failed = index, len(entries), False
            book.chain_begin()
        if chain_failed:
            results[index] = R.LINKED_EVENT_FAILED
        else:
            result, entry = book.apply(transfer)
            results[index] = result
            if entry is not None:
                entries.append(entry)
            if chain_start is not None and not result.is_success:
                chain_failed = True
                book.chain_rollback()
                del entries[chain_entries_count:]
                for earlier in range(chain_start, index):
                    results[earlier] = R.LINKED_EVENT_FAILED
        if chain_start is not None and not linked:
            if not chain_failed:
                book.chain_commit()
            chain_start, chain_failed = None, False
    if chain_start is not None:
        if not chain_failed:
            book.chain_rollback()
            del entries[chain_entries_count:]
            for earlier in range(chain_start, len(transfers) - 1):
                results[earlier] = R.LINKED_EVENT_FAILED
        results[-1] = R.LINKED_EVENT_CHAIN_OPEN
    invariant(all(result is not None for result in results), "every transfer must get a result")
    invariant(len(entries) == sum(1 for result in results if result is R.OK), "exactly the `ok` transfers are stored")
    return results, entries  # type: ignore[return-value]
