"""Mobile money through an operator that answers later: pending, success, failure, timeout, repeated callbacks."""

import pytest

from edge.app import open_database
from edge.errors import ConflictError, InvalidRequestError, NotFoundError
from edge.members import member_wallet
from edge.mobile_money import (
    Callback,
    MobileMoneyCreate,
    MobileMoneySimulator,
    expire_pending,
    get_request,
    handle_callback,
    request_deposit,
    request_withdrawal,
)
from tests.edge.cooperative import Cluster, assert_books_balance

NOW = 1_795_000_000


@pytest.fixture
def cluster(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    yield Cluster(engine)
    engine.dispose()


def ngwee(cluster, member_id):
    wallet = member_wallet(cluster.engine, member_id).ngwee
    return wallet.balance, wallet.available


def test_deposit_credits_only_on_success_and_callbacks_are_idempotent(cluster):
    member = cluster.member()
    pending = request_deposit(cluster.engine, MobileMoneyCreate(member, 25_000), now_s=NOW)
    assert pending.state == "pending" and ngwee(cluster, member) == (0, 0)
    done = handle_callback(cluster.engine, Callback(pending.reference, "succeeded"), now_s=NOW + 5)
    assert done.state == "succeeded" and ngwee(cluster, member) == (25_000, 25_000)
    assert handle_callback(cluster.engine, Callback(pending.reference, "succeeded"), now_s=NOW + 9) == done
    assert ngwee(cluster, member) == (25_000, 25_000)
    with pytest.raises(ConflictError) as conflicting:
        handle_callback(cluster.engine, Callback(pending.reference, "failed", "wrong_pin"))
    assert conflicting.value.code == "callback_conflicts"
    assert_books_balance(cluster.engine)


def test_failed_deposit_moves_nothing_and_keeps_the_reason(cluster):
    member = cluster.member()
    pending = request_deposit(cluster.engine, MobileMoneyCreate(member, 5_000))
    failed = handle_callback(cluster.engine, Callback(pending.reference, "failed", "insufficient_balance"))
    assert (failed.state, failed.reason) == ("failed", "insufficient_balance")
    assert ngwee(cluster, member) == (0, 0)


def test_unanswered_deposit_times_out_and_a_late_success_is_still_honoured(cluster):
    member = cluster.member()
    pending = request_deposit(cluster.engine, MobileMoneyCreate(member, 5_000), now_s=NOW)
    assert expire_pending(cluster.engine, now_s=NOW + 60) == 0
    assert expire_pending(cluster.engine, now_s=NOW + 600) == 1
    assert get_request(cluster.engine, pending.reference).state == "timed_out"
    handle_callback(cluster.engine, Callback(pending.reference, "succeeded"), now_s=NOW + 900)
    assert ngwee(cluster, member) == (5_000, 5_000)


def test_withdrawal_reserves_at_once_then_pays_out_or_releases(cluster):
    member = cluster.member(deposit_ngwee=10_000)
    paid = request_withdrawal(cluster.engine, MobileMoneyCreate(member, 4_000))
    assert ngwee(cluster, member) == (10_000, 6_000)
    with pytest.raises(ConflictError) as too_much:
        request_withdrawal(cluster.engine, MobileMoneyCreate(member, 6_001))
    assert too_much.value.code == "insufficient_funds"
    refused = request_withdrawal(cluster.engine, MobileMoneyCreate(member, 1_000))
    handle_callback(cluster.engine, Callback(paid.reference, "succeeded"))
    handle_callback(cluster.engine, Callback(refused.reference, "failed", "limit_exceeded"))
    assert ngwee(cluster, member) == (6_000, 6_000)
    assert expire_pending(cluster.engine, now_s=NOW * 2) == 0  # withdrawals never time out
    assert_books_balance(cluster.engine)


@pytest.mark.parametrize(
    ("fields", "error", "code"),
    [
        ({"member_id": 404}, NotFoundError, "member_not_found"),
        ({"amount_ngwee": 0}, InvalidRequestError, "amount_ngwee_too_small"),
        ({"amount_ngwee": -500}, InvalidRequestError, "amount_ngwee_too_small"),
        ({"amount_ngwee": 99}, InvalidRequestError, "amount_ngwee_too_small"),
        ({"amount_ngwee": 1_000_001}, InvalidRequestError, "amount_ngwee_too_large"),
        ({"amount_ngwee": True}, InvalidRequestError, "amount_ngwee_must_be_integer"),
    ],
)
def test_bad_requests_are_refused(cluster, fields, error, code):
    member = cluster.member()
    with pytest.raises(error) as refused:
        request_deposit(cluster.engine, MobileMoneyCreate(**({"member_id": member, "amount_ngwee": 1_000} | fields)))
    assert refused.value.code == code


def test_unknown_reference_and_bad_status(cluster):
    with pytest.raises(NotFoundError):
        handle_callback(cluster.engine, Callback("mm-nope", "succeeded"))
    with pytest.raises(InvalidRequestError):
        handle_callback(cluster.engine, Callback("mm-nope", "maybe"))


def test_request_key_makes_a_request_idempotent(cluster):
    member = cluster.member()
    first = request_deposit(cluster.engine, MobileMoneyCreate(member, 1_000, "app-7"))
    assert request_deposit(cluster.engine, MobileMoneyCreate(member, 1_000, "app-7")) == first
    with pytest.raises(ConflictError):
        request_deposit(cluster.engine, MobileMoneyCreate(member, 2_000, "app-7"))


def test_simulated_operator_answers_like_one_and_its_fates_replay(cluster):
    member = cluster.member()
    operator = MobileMoneySimulator(seed=3, success_bp=6_000, silent_bp=2_000)
    references = [request_deposit(cluster.engine, MobileMoneyCreate(member, 1_000), now_s=NOW).reference
                  for _ in range(30)]
    fates = [operator.fate(reference) for reference in references]
    assert fates == [MobileMoneySimulator(seed=3, success_bp=6_000, silent_bp=2_000).fate(r) for r in references]
    operator.deliver(cluster.engine, now_s=NOW + 1_000)
    states = [get_request(cluster.engine, reference).state for reference in references]
    assert set(states) == {"succeeded", "failed", "timed_out"}
    for fate, state in zip(fates, states, strict=True):
        assert state == ("timed_out" if fate is None else fate.status)
    assert ngwee(cluster, member)[0] == 1_000 * states.count("succeeded")
    assert_books_balance(cluster.engine)
