"""Opening accounts: idempotent on (owner, unit); bad input raises AccountError naming the rule."""

import pytest

from edge.ledger import AccountError, balance, find_account, open_account


def test_open_account_is_idempotent(engine):
    first = open_account(engine, "member:1", "ngwee")
    assert open_account(engine, "member:1", "ngwee") == first
    assert open_account(engine, "member:1", "wh") != first
    assert find_account(engine, "member:1", "ngwee") == first
    assert find_account(engine, "member:2", "ngwee") is None
    opened = balance(engine, first)
    assert (opened.balance, opened.available, opened.may_go_negative) == (0, 0, False)


@pytest.mark.parametrize(
    ("owner", "unit", "flags", "code"),
    [
        ("", "ngwee", False, "owner_must_not_be_empty"),
        ("x" * 65, "ngwee", False, "owner_too_long"),
        ("member:1", "kwh", False, "unit_must_be_ngwee_or_wh"),
        ("member:1", "ngwee", 1, "may_go_negative_must_be_bool"),
        ("member:1", "ngwee", True, "exists_with_different_flags"),
    ],
)
def test_bad_accounts_are_refused(engine, owner, unit, flags, code):
    open_account(engine, "member:1", "ngwee")
    with pytest.raises(AccountError) as raised:
        open_account(engine, owner, unit, may_go_negative=flags)
    assert raised.value.code == code
    assert find_account(engine, "member:1", "wh") is None
