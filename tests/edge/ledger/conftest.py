"""Fixtures for the ledger tests: a fresh gateway database with a small, funded cluster."""

from dataclasses import dataclass
from pathlib import Path

import pytest
from nacl.signing import SigningKey
from sqlalchemy.engine import Engine

from edge.db import create_schema, make_engine
from edge.ledger import Transfer, TransferFlags, TransferResult, open_account, post, post_pending, void_pending

ROOT_HINT = Path(__file__).resolve().parents[3]  # the repository root, for `python -m`
OPENING_NGWEE = 10_000
OPENING_WH = 5_000


@dataclass
class Cluster:
    engine: Engine
    path: Path
    mobile_money: int
    generation: int
    alice_ngwee: int
    bob_ngwee: int
    alice_wh: int
    bob_wh: int


def journal_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT COUNT(*) FROM ledger_transfer").scalar_one()


def sql(path: Path, statement: str, parameters: tuple = ()) -> None:
    """Tamper with the database directly, as an attacker with file access would."""
    import sqlite3

    connection = sqlite3.connect(path)
    try:
        connection.execute(statement, parameters)
        connection.commit()
    finally:
        connection.close()


@pytest.fixture
def engine(tmp_path) -> Engine:
    engine = make_engine(tmp_path / "gateway.db")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def gateway_key() -> SigningKey:
    return SigningKey(bytes(range(32)))


@pytest.fixture
def cluster(engine, tmp_path) -> Cluster:
    """Mobile money and generation (may go negative), Alice and Bob with money and energy wallets, Alice funded.

    Journal: 1 topup alice, 2 allocation alice, 3 pending alice->bob 1000 ("p-open", still pending),
    4 pending "p-posted", 5 its post, 6 pending "p-voided", 7 its void.
    """
    c = Cluster(
        engine,
        tmp_path / "gateway.db",
        mobile_money=open_account(engine, "system:mobile_money", "ngwee", may_go_negative=True),
        generation=open_account(engine, "system:generation", "wh", may_go_negative=True),
        alice_ngwee=open_account(engine, "member:alice", "ngwee"),
        bob_ngwee=open_account(engine, "member:bob", "ngwee"),
        alice_wh=open_account(engine, "member:alice", "wh"),
        bob_wh=open_account(engine, "member:bob", "wh"),
    )
    pending = TransferFlags.PENDING
    results = post(
        engine,
        [
            Transfer("topup-alice", c.mobile_money, c.alice_ngwee, OPENING_NGWEE, "ngwee", "i0", "topup"),
            Transfer("alloc-alice", c.generation, c.alice_wh, OPENING_WH, "wh", "i0", "allocation"),
            Transfer("p-open", c.alice_ngwee, c.bob_ngwee, 1_000, "ngwee", "i0", "trade", pending),
            Transfer("p-posted", c.alice_ngwee, c.bob_ngwee, 100, "ngwee", "i0", "trade", pending),
        ],
    )
    assert results == [TransferResult.OK] * 4
    assert post_pending(engine, "post-p-posted", "p-posted", interval_id="i0") is TransferResult.OK
    assert post(engine, [Transfer("p-voided", c.alice_ngwee, c.bob_ngwee, 200, "ngwee", "i0", "trade", pending)]) == [
        TransferResult.OK
    ]
    assert void_pending(engine, "void-p-voided", "p-voided", interval_id="i0") is TransferResult.OK
    return c
