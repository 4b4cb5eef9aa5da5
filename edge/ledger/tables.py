"""The ledger's SQLite tables, declared with SQLModel so `edge.db.create_schema` creates them with the rest.

- `ledger_account`: append-only; an account never changes once opened (seals sign a digest over them).
- `ledger_balance`: a cache of each account's four totals, updated in the same transaction as the journal rows;
  `verify` re-derives it from the journal and compares.
- `ledger_transfer`: the journal. `seq` runs 1, 2, 3, ... with no gaps; each row carries the previous row's hash
  and its own. Rows are never updated or deleted.
- `ledger_seal`: one signed chain head per sealed interval, ids 1, 2, 3, ..., each linked to the one before.

The CHECK constraints repeat the rules the code enforces, so a bug that slips past the code still cannot store
a zero amount or a transfer from an account to itself.
"""

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from edge.ledger.limits import AMOUNT_MAX


class LedgerAccount(SQLModel, table=True):
    __tablename__ = "ledger_account"
    __table_args__ = (
        UniqueConstraint("owner", "unit", name="owner_and_unit_must_be_unique"),
        CheckConstraint("unit IN ('ngwee', 'wh')", name="account_unit_must_be_ngwee_or_wh"),
    )

    id: int | None = Field(default=None, primary_key=True)
    owner: str
    unit: str
    may_go_negative: bool = False


class LedgerBalance(SQLModel, table=True):
    __tablename__ = "ledger_balance"

    account_id: int = Field(primary_key=True, foreign_key="ledger_account.id")
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0


class LedgerTransfer(SQLModel, table=True):
    __tablename__ = "ledger_transfer"
    __table_args__ = (
        CheckConstraint(f"amount > 0 AND amount <= {AMOUNT_MAX}", name="amount_must_be_positive_and_bounded"),
        CheckConstraint("debit_account_id != credit_account_id", name="accounts_must_be_different"),
        CheckConstraint("unit IN ('ngwee', 'wh')", name="transfer_unit_must_be_ngwee_or_wh"),
    )

    seq: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    debit_account_id: int = Field(foreign_key="ledger_account.id")
    credit_account_id: int = Field(foreign_key="ledger_account.id")
    amount: int
    unit: str
    interval_id: str = Field(index=True)
    kind: str
    flags: int
    # At most one post or void per pending transfer: the UNIQUE index makes a double post impossible to store.
    pending_key: str | None = Field(default=None, unique=True)
    timestamp_us: int
    prev_hash: bytes
    entry_hash: bytes


class LedgerSeal(SQLModel, table=True):
    __tablename__ = "ledger_seal"

    seal_id: int | None = Field(default=None, primary_key=True)
    interval_id: str = Field(unique=True)
    entries_count: int
    head_hash: bytes
    accounts_count: int
    accounts_digest: bytes
    prev_seal_digest: bytes
    sealed_at_us: int
    public_key: bytes
    signature: bytes
