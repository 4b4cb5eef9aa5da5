"""Idempotency, linked chains, pending transfers and conservation through the public API."""

from edge.ledger import (
    Transfer,
    TransferFlags,
    TransferResult,
    balance,
    balances,
    entries_for_interval,
    get_transfer,
    pending_state,
    post,
    post_pending,
    post_pending_transfer,
    void_pending,
    void_pending_transfer,
)
from tests.edge.ledger.conftest import journal_count

R = TransferResult
F = TransferFlags


def trade(c, prefix: str, ngwee: int, wh: int, interval_id: str = "i1") -> list[Transfer]:
    """Bob buys `wh` from Alice for `ngwee`: money leg linked to the energy leg."""
    return [
        Transfer(f"{prefix}:money", c.bob_ngwee, c.alice_ngwee, ngwee, "ngwee", interval_id, "trade", F.LINKED),
        Transfer(f"{prefix}:energy", c.alice_wh, c.bob_wh, wh, "wh", interval_id, "trade"),
    ]


def fund_bob(c, amount: int = 5_000) -> None:
    assert post(c.engine, [Transfer("fund-bob", c.mobile_money, c.bob_ngwee, amount, "ngwee", "i1", "topup")]) == [R.OK]


def conserved(engine) -> bool:
    rows = balances(engine)
    return all(
        sum(row.balance for row in rows if row.unit == unit) == 0
        and sum(row.credits_pending - row.debits_pending for row in rows if row.unit == unit) == 0
        for unit in ("ngwee", "wh")
    )


# Idempotency


def test_retrying_a_batch_returns_exists_and_changes_nothing(cluster):
    fund_bob(cluster)
    batch = [*trade(cluster, "t1", 120, 100), *trade(cluster, "t2", 240, 200)]
    assert post(cluster.engine, batch) == [R.OK] * 4
    entries, money = journal_count(cluster.engine), balances(cluster.engine)
    assert post(cluster.engine, batch) == [R.EXISTS] * 4
    assert journal_count(cluster.engine) == entries
    assert balances(cluster.engine) == money


def test_same_key_twice_in_one_batch_posts_once(cluster):
    t = Transfer("dup", cluster.alice_ngwee, cluster.bob_ngwee, 10, "ngwee", "i1", "trade")
    changed = Transfer("dup", cluster.alice_ngwee, cluster.bob_ngwee, 11, "ngwee", "i1", "trade")
    assert post(cluster.engine, [t, t, changed]) == [R.OK, R.EXISTS, R.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert balance(cluster.engine, cluster.bob_ngwee).balance == 100 + 10


def test_exists_compares_every_field(cluster):
    base = dict(
        key="topup-alice",
        debit_account_id=cluster.mobile_money,
        credit_account_id=cluster.alice_ngwee,
        amount=10_000,
        unit="ngwee",
        interval_id="i0",
        kind="topup",
    )
    assert post(cluster.engine, [Transfer(**base)]) == [R.EXISTS]
    for field, value in [
        ("interval_id", "i9"),
        ("kind", "trade"),
        ("flags", F.PENDING),
        ("debit_account_id", cluster.generation),
    ]:
        assert post(cluster.engine, [Transfer(**{**base, field: value})]) == [R.EXISTS_WITH_DIFFERENT_FIELDS], field


def test_retry_of_post_pending_with_zeros_is_exists(cluster):
    assert post(cluster.engine, [post_pending_transfer("post-p-posted", "p-posted", interval_id="i0")]) == [R.EXISTS]
    explicit = Transfer(
        "post-p-posted",
        cluster.alice_ngwee,
        cluster.bob_ngwee,
        100,
        "ngwee",
        "i0",
        "post_pending",
        F.POST_PENDING,
        "p-posted",
    )
    assert post(cluster.engine, [explicit]) == [R.EXISTS]


# Linked chains


def test_linked_trade_moves_money_and_energy_together(cluster):
    fund_bob(cluster)
    assert post(cluster.engine, trade(cluster, "t1", 120, 100)) == [R.OK, R.OK]
    assert balance(cluster.engine, cluster.bob_wh).balance == 100
    assert balance(cluster.engine, cluster.alice_ngwee).balance == 9_900 + 120


def test_linked_chain_is_all_or_nothing(cluster):
    # Bob has only the 100 ngwee from "p-posted": the money leg fails, so the energy leg must not post either.
    entries, before = journal_count(cluster.engine), balances(cluster.engine)
    assert post(cluster.engine, trade(cluster, "t1", 120, 100)) == [R.INSUFFICIENT_FUNDS, R.LINKED_EVENT_FAILED]
    # The energy leg fails (Alice has 5,000 Wh): the money leg, already applied in memory, is rolled back.
    fund_bob(cluster)
    entries, before = journal_count(cluster.engine), balances(cluster.engine)
    assert post(cluster.engine, trade(cluster, "t2", 120, 5_001)) == [R.LINKED_EVENT_FAILED, R.INSUFFICIENT_FUNDS]
    assert journal_count(cluster.engine) == entries
    assert balances(cluster.engine) == before
    assert get_transfer(cluster.engine, "t2:money") is None


def test_failed_chain_leaves_its_neighbours_alone(cluster):
    fund_bob(cluster)
    before = Transfer("before", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade")
    after = Transfer("after", cluster.alice_ngwee, cluster.bob_ngwee, 2, "ngwee", "i1", "trade")
    results = post(cluster.engine, [before, *trade(cluster, "bad", 0, 10), after, *trade(cluster, "good", 12, 10)])
    assert results == [R.OK, R.AMOUNT_MUST_BE_POSITIVE, R.LINKED_EVENT_FAILED, R.OK, R.OK, R.OK]


def test_failed_chain_member_after_the_failure_is_not_evaluated(cluster):
    chain = [
        Transfer("c1", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade", F.LINKED),
        Transfer("c2", cluster.alice_ngwee, cluster.bob_ngwee, 0, "ngwee", "i1", "trade", F.LINKED),
        Transfer("c3", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade"),
    ]
    assert post(cluster.engine, chain) == [R.LINKED_EVENT_FAILED, R.AMOUNT_MUST_BE_POSITIVE, R.LINKED_EVENT_FAILED]


def test_chain_open_at_end_of_batch_posts_nothing(cluster):
    fund_bob(cluster)
    open_chain = [
        Transfer("o1", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade", F.LINKED),
        Transfer("o2", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade", F.LINKED),
    ]
    entries = journal_count(cluster.engine)
    assert post(cluster.engine, open_chain) == [R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN]
    assert journal_count(cluster.engine) == entries


def test_retrying_a_posted_chain_is_exists_throughout(cluster):
    fund_bob(cluster)
    chain = trade(cluster, "t1", 120, 100)
    assert post(cluster.engine, chain) == [R.OK, R.OK]
    assert post(cluster.engine, chain) == [R.EXISTS, R.EXISTS]


# Pending transfers


def test_pending_reserves_and_post_moves_the_money(cluster):
    alice = balance(cluster.engine, cluster.alice_ngwee)
    assert (alice.balance, alice.available, alice.debits_pending) == (9_900, 8_900, 1_000)
    assert pending_state(cluster.engine, "p-open") == "pending"
    assert post_pending(cluster.engine, "post-open", "p-open", interval_id="i1") is R.OK
    alice = balance(cluster.engine, cluster.alice_ngwee)
    assert (alice.balance, alice.available, alice.debits_pending) == (8_900, 8_900, 0)
    assert balance(cluster.engine, cluster.bob_ngwee).balance == 1_100
    assert pending_state(cluster.engine, "p-open") == "posted"
    assert conserved(cluster.engine)


def test_partial_post_releases_the_rest(cluster):
    assert post_pending(cluster.engine, "post-open", "p-open", interval_id="i1", amount=400) is R.OK
    alice = balance(cluster.engine, cluster.alice_ngwee)
    assert (alice.balance, alice.available, alice.debits_pending) == (9_500, 9_500, 0)
    assert get_transfer(cluster.engine, "post-open").amount == 400


def test_void_releases_the_reservation(cluster):
    assert void_pending(cluster.engine, "void-open", "p-open", interval_id="i1") is R.OK
    alice = balance(cluster.engine, cluster.alice_ngwee)
    assert (alice.balance, alice.available, alice.debits_pending) == (9_900, 9_900, 0)
    bob = balance(cluster.engine, cluster.bob_ngwee)
    assert (bob.balance, bob.credits_pending) == (100, 0)
    assert pending_state(cluster.engine, "p-open") == "voided"
    assert conserved(cluster.engine)


def test_a_pending_transfer_cannot_be_resolved_twice(cluster):
    assert post_pending(cluster.engine, "post-1", "p-open", interval_id="i1") is R.OK
    assert post_pending(cluster.engine, "post-2", "p-open", interval_id="i1") is R.PENDING_TRANSFER_ALREADY_POSTED
    assert void_pending(cluster.engine, "void-1", "p-open", interval_id="i1") is R.PENDING_TRANSFER_ALREADY_POSTED
    assert balance(cluster.engine, cluster.bob_ngwee).balance == 1_100


def test_reserved_funds_cannot_be_spent(cluster):
    spend = Transfer("spend", cluster.alice_ngwee, cluster.bob_ngwee, 8_901, "ngwee", "i1", "trade")
    assert post(cluster.engine, [spend]) == [R.INSUFFICIENT_FUNDS]
    assert void_pending(cluster.engine, "void-open", "p-open", interval_id="i1") is R.OK
    assert post(cluster.engine, [spend]) == [R.OK]


def test_pending_created_and_resolved_in_one_batch(cluster):
    batch = [
        Transfer("p-new", cluster.alice_ngwee, cluster.bob_ngwee, 50, "ngwee", "i1", "trade", F.PENDING),
        post_pending_transfer("post-new", "p-new", interval_id="i1"),
        void_pending_transfer("void-new", "p-new", interval_id="i1"),
    ]
    assert post(cluster.engine, batch) == [R.OK, R.OK, R.PENDING_TRANSFER_ALREADY_POSTED]


def test_a_linked_void_rolls_back_with_its_chain(cluster):
    chain = [
        void_pending_transfer("void-open", "p-open", interval_id="i1", flags=F.LINKED),
        Transfer("broken", cluster.alice_ngwee, cluster.bob_ngwee, 0, "ngwee", "i1", "trade"),
    ]
    assert post(cluster.engine, chain) == [R.LINKED_EVENT_FAILED, R.AMOUNT_MUST_BE_POSITIVE]
    assert pending_state(cluster.engine, "p-open") == "pending"
    assert void_pending(cluster.engine, "void-open", "p-open", interval_id="i1") is R.OK


# Conservation and reading back


def test_money_and_energy_are_conserved(cluster):
    fund_bob(cluster)
    post(cluster.engine, [*trade(cluster, "t1", 120, 100), *trade(cluster, "t2", 99_999, 1)])
    assert conserved(cluster.engine)
    assert all(row.may_go_negative or row.available >= 0 for row in balances(cluster.engine))


def test_entries_for_interval_in_journal_order(cluster):
    keys = [entry.key for entry in entries_for_interval(cluster.engine, "i0")]
    assert keys == ["topup-alice", "alloc-alice", "p-open", "p-posted", "post-p-posted", "p-voided", "void-p-voided"]


def test_failed_chain_that_is_also_open_at_the_end(cluster):
    chain = [
        Transfer("f1", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade", F.LINKED),
        Transfer("f2", cluster.alice_ngwee, cluster.bob_ngwee, 0, "ngwee", "i1", "trade", F.LINKED),
        Transfer("f3", cluster.alice_ngwee, cluster.bob_ngwee, 1, "ngwee", "i1", "trade", F.LINKED),
    ]
    entries = journal_count(cluster.engine)
    assert post(cluster.engine, chain) == [R.LINKED_EVENT_FAILED, R.AMOUNT_MUST_BE_POSITIVE, R.LINKED_EVENT_CHAIN_OPEN]
    assert journal_count(cluster.engine) == entries
