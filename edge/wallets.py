"""The cooperative's account model on the ledger, and members' wallets read from it (docs/settlement.md).

Every member has two wallets, both ledger accounts owned by "member:<id>": ZMW in ngwee and energy in Wh.
Balances are never stored here: they are the ledger's totals, derived from the journal.

System accounts (owner, unit; * = may go negative because it faces the world outside the ledger):
    system:mobile_money  ngwee *  the mobile-money operator: deposits come from it, withdrawals go to it
    system:generation    wh    *  every metered Wh of solar: shared installation and prosumers' exports
    system:meter_credit  wh       prepaid credit loaded onto meters (credit grants, OpenPAYGO tokens): a sink
    cluster:energy       wh    *  the cooperative's energy: receives the shared generation, gives allocations,
                                  sells its surplus on the market and sells prepaid credit (below zero when it
                                  has sold more than its own solar made: the rest came from battery or grid)
    cluster:revenue      ngwee    the cooperative's income: its surplus sold on the market, prepaid sales
    cluster:equipment    ngwee    pooled purchases: members' contributions to the shared equipment
    market:escrow        ngwee/wh holds what a settlement has taken from buyers and sellers until it pays the
                                  other side, in the same transaction: zero after every settlement
Open orders reserve their maximum as pending transfers into market:escrow (ledger `pending`).
"""

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from edge.ledger import AccountBalance, balance, open_account
from edge.ledger._db import read_snapshot
from edge.ledger.records import Unit

NGWEE = Unit.NGWEE.value
WH = Unit.WH.value

# (attribute, owner, unit, may_go_negative)
_SYSTEM_ACCOUNTS = (
    ("mobile_money", "system:mobile_money", NGWEE, True),
    ("generation", "system:generation", WH, True),
    ("meter_credit", "system:meter_credit", WH, False),
    ("cluster_energy", "cluster:energy", WH, True),
    ("cluster_revenue", "cluster:revenue", NGWEE, False),
    ("cluster_equipment", "cluster:equipment", NGWEE, False),
    ("escrow_ngwee", "market:escrow", NGWEE, False),
    ("escrow_wh", "market:escrow", WH, False),
)


@dataclass(frozen=True, slots=True)
class SystemAccounts:
    mobile_money: int
    generation: int
    meter_credit: int
    cluster_energy: int
    cluster_revenue: int
    cluster_equipment: int
    escrow_ngwee: int
    escrow_wh: int


def member_owner(member_id: int) -> str:
    return f"member:{member_id}"


def system_accounts(engine: Engine) -> SystemAccounts:
    """The system accounts' ids, opening any that do not exist yet (one read when they all do)."""
    with read_snapshot(engine) as cursor:
        cursor.execute("SELECT owner, unit, id FROM ledger_account WHERE owner LIKE 'system:%' OR owner LIKE"
                       " 'cluster:%' OR owner LIKE 'market:%'")
        known = {(owner, unit): account_id for owner, unit, account_id in cursor.fetchall()}
    ids = {}
    for attribute, owner, unit, may_go_negative in _SYSTEM_ACCOUNTS:
        account_id = known.get((owner, unit))
        if account_id is None:
            account_id = open_account(engine, owner, unit, may_go_negative=may_go_negative)
        ids[attribute] = account_id
    return SystemAccounts(**ids)


def open_member_accounts(engine: Engine, member_id: int) -> tuple[int, int]:
    """(ngwee account id, Wh account id) of a member, opened if needed (idempotent)."""
    owner = member_owner(member_id)
    return open_account(engine, owner, NGWEE), open_account(engine, owner, WH)


@dataclass(frozen=True, slots=True)
class WalletBalance:
    """One wallet. `balance` is what it holds; `reserved` is held by open orders and pending withdrawals;
    `available` = balance − reserved is what may be spent now."""

    unit: str
    balance: int
    reserved: int
    available: int

    @classmethod
    def of(cls, account: AccountBalance | None, unit: str) -> "WalletBalance":
        if account is None:
            return cls(unit, 0, 0, 0)
        return cls(unit, account.balance, account.debits_pending, account.available)


@dataclass(frozen=True, slots=True)
class WalletRead:
    member_id: int
    phone: str
    ngwee: WalletBalance
    wh: WalletBalance


def wallet_balances(engine: Engine, ngwee_account_id: int, wh_account_id: int) -> tuple[WalletBalance, WalletBalance]:
    return (
        WalletBalance.of(balance(engine, ngwee_account_id), NGWEE),
        WalletBalance.of(balance(engine, wh_account_id), WH),
    )


def all_wallets(engine: Engine, limit: int, after_member_id: int = 0) -> list[WalletRead]:
    """Every member's wallets, by member id, a page at a time (one query)."""
    with read_snapshot(engine) as cursor:
        cursor.execute(
            "SELECT m.member_id, m.phone,"
            " bn.credits_posted - bn.debits_posted, bn.debits_pending,"
            " bw.credits_posted - bw.debits_posted, bw.debits_pending"
            " FROM member m JOIN ledger_balance bn ON bn.account_id = m.ngwee_account_id"
            " JOIN ledger_balance bw ON bw.account_id = m.wh_account_id"
            " WHERE m.member_id > ? ORDER BY m.member_id LIMIT ?",
            (after_member_id, limit),
        )
        rows = cursor.fetchall()
    return [
        WalletRead(
            member_id,
            phone,
            WalletBalance(NGWEE, ngwee, ngwee_reserved, ngwee - ngwee_reserved),
            WalletBalance(WH, wh, wh_reserved, wh - wh_reserved),
        )
        for member_id, phone, ngwee, ngwee_reserved, wh, wh_reserved in rows
    ]
