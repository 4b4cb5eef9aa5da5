"""edge.bookkeeping applies the ledger's own rules inside one transaction of ours: pin what settlement relies on."""

import pytest

from edge.app import open_database
from edge.bookkeeping import LedgerRejection, open_books
from edge.ledger import Transfer, TransferFlags, TransferResult, balance, open_account, post, verify
from edge.ledger.limits import BATCH_TRANSFERS_MAX


@pytest.fixture
def books(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    source = open_account(engine, "system:generation", "wh", may_go_negative=True)
    members = [open_account(engine, f"member:{m}", "wh") for m in range(3)]
    yield engine, source, members
    engine.dispose()


def count(engine) -> int:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SELECT COUNT(*) FROM ledger_transfer").scalar_one()


def test_more_than_one_ledger_batch_commits_as_one_transaction_and_retries_exist(books):
    engine, source, members = books
    transfers = [Transfer(f"k{i}", source, members[i % 3], 1, "wh", "i1", "allocation")
                 for i in range(BATCH_TRANSFERS_MAX + 5)]
    with open_books(engine) as book:
        assert set(book.require(transfers)) == {TransferResult.OK}
        book.cursor.execute("SELECT COUNT(*) FROM ledger_transfer")
        assert book.cursor.fetchone()[0] == len(transfers)  # our own reads see them before the commit
    assert count(engine) == len(transfers)
    assert set(post(engine, transfers[:10])) == {TransferResult.EXISTS}
    assert verify(engine).ok


def test_an_exception_rolls_back_every_batch_and_our_own_rows(books):
    engine, source, members = books
    with pytest.raises(RuntimeError), open_books(engine) as book:
        book.require([Transfer(f"k{i}", source, members[0], 1, "wh", "i1", "allocation")
                      for i in range(BATCH_TRANSFERS_MAX + 1)])
        book.cursor.execute("INSERT INTO meter_position (meter_id, seq, energy_wh, energy_out_wh, interval_index)"
                            " VALUES ('m', 1, 1, 1, 1)")
        raise RuntimeError("crash before commit")
    assert count(engine) == 0
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT COUNT(*) FROM meter_position").scalar_one() == 0


def test_require_names_the_rule_a_linked_chain_broke(books):
    engine, source, members = books
    with pytest.raises(LedgerRejection) as rejected, open_books(engine) as book:
        book.require([
            Transfer("a", source, members[0], 5, "wh", "i1", "trade", TransferFlags.LINKED),
            Transfer("b", members[1], members[2], 5, "wh", "i1", "trade"),  # member 1 holds nothing
        ])
    assert rejected.value.result is TransferResult.INSUFFICIENT_FUNDS
    assert count(engine) == 0 and balance(engine, members[0]).balance == 0


def test_a_linked_chain_is_never_split_across_ledger_batches(books):
    engine, source, members = books
    transfers = [Transfer(f"k{i}", source, members[0], 1, "wh", "i1", "allocation")
                 for i in range(BATCH_TRANSFERS_MAX - 2)]
    transfers += [Transfer("x", source, members[1], 1, "wh", "i1", "trade", TransferFlags.LINKED),
                  Transfer("y", source, members[2], 1, "wh", "i1", "trade", TransferFlags.LINKED),
                  Transfer("z", source, members[2], 1, "wh", "i1", "trade")]
    with open_books(engine) as book:
        assert set(book.require(transfers)) == {TransferResult.OK}
    assert verify(engine).ok
