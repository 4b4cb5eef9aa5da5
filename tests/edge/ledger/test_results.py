"""Every result code, each from the smallest input that triggers it; a rejection never stores anything."""

import pytest

from edge.ledger import (
    Transfer,
    TransferFlags,
    TransferResult,
    balances,
    post,
    post_pending_transfer,
    void_pending_transfer,
)
from edge.ledger.limits import AMOUNT_MAX, BATCH_TRANSFERS_MAX, INTERVAL_ID_BYTES_MAX, KEY_BYTES_MAX, KIND_BYTES_MAX
from tests.edge.ledger.conftest import journal_count, sql

R = TransferResult
F = TransferFlags


def pay(c, key="new", amount=100, **fields):
    """Alice pays Bob in ngwee, with any field overridden."""
    values = dict(
        key=key,
        debit_account_id=c.alice_ngwee,
        credit_account_id=c.bob_ngwee,
        amount=amount,
        unit="ngwee",
        interval_id="i1",
        kind="trade",
    )
    values.update(fields)
    return Transfer(**values)


CASES = {
    R.OK: lambda c: pay(c),
    R.KEY_MUST_NOT_BE_EMPTY: lambda c: pay(c, key=""),
    R.KEY_TOO_LONG: lambda c: pay(c, key="k" * (KEY_BYTES_MAX + 1)),
    R.FLAGS_MUST_BE_KNOWN: lambda c: pay(c, flags=64),
    R.FLAGS_ARE_MUTUALLY_EXCLUSIVE: lambda c: pay(c, flags=F.PENDING | F.VOID_PENDING),
    R.PENDING_KEY_MUST_BE_EMPTY: lambda c: pay(c, pending_key="p-open"),
    R.PENDING_KEY_MUST_NOT_BE_EMPTY: lambda c: post_pending_transfer("new", "", interval_id="i1"),
    R.PENDING_KEY_MUST_BE_DIFFERENT: lambda c: post_pending_transfer("same", "same", interval_id="i1"),
    R.INTERVAL_ID_MUST_NOT_BE_EMPTY: lambda c: pay(c, interval_id=""),
    R.INTERVAL_ID_TOO_LONG: lambda c: pay(c, interval_id="i" * (INTERVAL_ID_BYTES_MAX + 1)),
    R.KIND_MUST_NOT_BE_EMPTY: lambda c: pay(c, kind=""),
    R.KIND_TOO_LONG: lambda c: pay(c, kind="k" * (KIND_BYTES_MAX + 1)),
    R.AMOUNT_MUST_BE_INTEGER: lambda c: pay(c, amount=1.5),
    R.AMOUNT_MUST_BE_POSITIVE: lambda c: pay(c, amount=0),
    R.AMOUNT_MUST_NOT_BE_NEGATIVE: lambda c: post_pending_transfer("new", "p-open", interval_id="i1", amount=-1),
    R.AMOUNT_TOO_LARGE: lambda c: pay(c, amount=AMOUNT_MAX + 1),
    R.ACCOUNTS_MUST_BE_DIFFERENT: lambda c: pay(c, credit_account_id=c.alice_ngwee),
    R.UNIT_MUST_BE_NGWEE_OR_WH: lambda c: pay(c, unit="kwh"),
    R.EXISTS: lambda c: Transfer("topup-alice", c.mobile_money, c.alice_ngwee, 10_000, "ngwee", "i0", "topup"),
    R.EXISTS_WITH_DIFFERENT_AMOUNT: lambda c: Transfer(
        "topup-alice", c.mobile_money, c.alice_ngwee, 10_001, "ngwee", "i0", "topup"
    ),
    R.EXISTS_WITH_DIFFERENT_FIELDS: lambda c: Transfer(
        "topup-alice", c.mobile_money, c.bob_ngwee, 10_000, "ngwee", "i0", "topup"
    ),
    R.DEBIT_ACCOUNT_NOT_FOUND: lambda c: pay(c, debit_account_id=999),
    R.CREDIT_ACCOUNT_NOT_FOUND: lambda c: pay(c, credit_account_id=999),
    R.ACCOUNTS_MUST_HAVE_THE_SAME_UNIT: lambda c: pay(c, credit_account_id=c.bob_wh),
    R.UNIT_MUST_MATCH_ACCOUNTS: lambda c: pay(c, unit="wh"),
    R.PENDING_TRANSFER_NOT_FOUND: lambda c: post_pending_transfer("new", "no-such", interval_id="i1"),
    R.PENDING_TRANSFER_NOT_PENDING: lambda c: post_pending_transfer("new", "topup-alice", interval_id="i1"),
    R.PENDING_TRANSFER_ALREADY_POSTED: lambda c: void_pending_transfer("new", "p-posted", interval_id="i1"),
    R.PENDING_TRANSFER_ALREADY_VOIDED: lambda c: post_pending_transfer("new", "p-voided", interval_id="i1"),
    R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT: lambda c: Transfer(
        "new", c.bob_ngwee, 0, 0, "", "i1", "post", F.POST_PENDING, "p-open"
    ),
    R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT: lambda c: Transfer(
        "new", 0, c.mobile_money, 0, "", "i1", "post", F.POST_PENDING, "p-open"
    ),
    R.PENDING_TRANSFER_HAS_DIFFERENT_UNIT: lambda c: Transfer(
        "new", 0, 0, 0, "wh", "i1", "post", F.POST_PENDING, "p-open"
    ),
    R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT: lambda c: Transfer(
        "new", 0, 0, 999, "", "i1", "void", F.VOID_PENDING, "p-open"
    ),
    R.EXCEEDS_PENDING_TRANSFER_AMOUNT: lambda c: post_pending_transfer("new", "p-open", interval_id="i1", amount=1_001),
    # Alice holds 9,900 of which 1,000 is reserved by "p-open": 8,900 is available.
    R.INSUFFICIENT_FUNDS: lambda c: pay(c, amount=8_901),
}
# Codes that need a batch (linked chains) or a doctored balance; tested below.
ELSEWHERE = {R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN, R.TOTAL_WOULD_OVERFLOW}


def test_every_result_code_is_tested():
    assert set(CASES) | ELSEWHERE == set(TransferResult)


@pytest.mark.parametrize("expected", list(CASES), ids=str)
def test_result_code(cluster, expected):
    entries_before, balances_before = journal_count(cluster.engine), balances(cluster.engine)
    assert post(cluster.engine, [CASES[expected](cluster)]) == [expected]
    if expected is not R.OK:
        assert journal_count(cluster.engine) == entries_before
        assert balances(cluster.engine) == balances_before
    else:
        assert journal_count(cluster.engine) == entries_before + 1


@pytest.mark.parametrize(
    ("make", "valid", "invalid"),
    [
        (lambda c, v: pay(c, amount=v), 8_900, 8_901),
        (lambda c, v: pay(c, key="k" * v), KEY_BYTES_MAX, KEY_BYTES_MAX + 1),
        (lambda c, v: pay(c, kind="k" * v), KIND_BYTES_MAX, KIND_BYTES_MAX + 1),
        (lambda c, v: pay(c, interval_id="i" * v), INTERVAL_ID_BYTES_MAX, INTERVAL_ID_BYTES_MAX + 1),
        (lambda c, v: pay(c, amount=v, debit_account_id=c.mobile_money), AMOUNT_MAX, AMOUNT_MAX + 1),
        (lambda c, v: post_pending_transfer("new", "p-open", interval_id="i1", amount=v), 1_000, 1_001),
    ],
    ids=["funds", "key", "kind", "interval_id", "amount_max", "post_amount"],
)
def test_boundary_flips_between_valid_and_invalid(cluster, make, valid, invalid):
    assert post(cluster.engine, [make(cluster, invalid)])[0] is not R.OK
    assert post(cluster.engine, [make(cluster, valid)]) == [R.OK]


def test_bool_and_float_amounts_are_not_money(cluster):
    assert post(cluster.engine, [pay(cluster, amount=True)]) == [R.AMOUNT_MUST_BE_INTEGER]
    assert post(cluster.engine, [pay(cluster, amount=100.0)]) == [R.AMOUNT_MUST_BE_INTEGER]


def test_total_would_overflow(cluster):
    from edge.ledger.limits import TOTAL_MAX

    # Only reachable after ~4.6 million maximal transfers; doctor the cache the writer reads instead.
    sql(
        cluster.path,
        "UPDATE ledger_balance SET debits_posted = ? WHERE account_id = ?",
        (TOTAL_MAX, cluster.mobile_money),
    )
    result = post(cluster.engine, [pay(cluster, amount=1, debit_account_id=cluster.mobile_money)])
    assert result == [R.TOTAL_WOULD_OVERFLOW]


def test_empty_batch_posts_nothing(cluster):
    assert post(cluster.engine, []) == []


def test_batch_over_the_bound_is_a_programmer_error(cluster):
    too_many = [pay(cluster, key=f"k{i}", amount=1) for i in range(BATCH_TRANSFERS_MAX + 1)]
    entries_before = journal_count(cluster.engine)
    with pytest.raises(ValueError, match="at most"):
        post(cluster.engine, too_many)
    assert journal_count(cluster.engine) == entries_before


def test_results_keep_batch_order_and_failures_do_not_block_others(cluster):
    results = post(
        cluster.engine,
        [pay(cluster, key="a", amount=1), pay(cluster, key="b", amount=0), pay(cluster, key="c", amount=2)],
    )
    assert results == [R.OK, R.AMOUNT_MUST_BE_POSITIVE, R.OK]


def test_a_rejected_key_stays_free_for_a_corrected_retry(cluster):
    assert post(cluster.engine, [pay(cluster, key="fix-me", amount=8_901)]) == [R.INSUFFICIENT_FUNDS]
    assert post(cluster.engine, [pay(cluster, key="fix-me", amount=8_900)]) == [R.OK]
