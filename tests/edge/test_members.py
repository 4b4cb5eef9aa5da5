"""Members, meters and contributions: validation first, nothing written on error; shares are contributions."""

import pytest

from edge.app import open_database
from edge.errors import ConflictError, InvalidRequestError, NotFoundError
from edge.intervals import parse_interval_id
from edge.members import (
    ContributionCreate,
    MemberCreate,
    add_member,
    contribute,
    get_member,
    list_contributions,
    list_members,
    member_wallet,
    require_member,
)
from tests.edge.cooperative import Cluster


@pytest.fixture
def cluster(tmp_path):
    engine = open_database(tmp_path / "gateway.db")
    yield Cluster(engine)
    engine.dispose()


@pytest.mark.parametrize("phone", ["+260971234567", "0971234567", "260971234567", "+260 97 123 4567"])
def test_zambian_numbers_in_any_usual_form_are_stored_as_plus_260(cluster, phone):
    assert add_member(cluster.engine, MemberCreate(phone)).phone == "+260971234567"


@pytest.mark.parametrize("phone", ["", "0971", "+254712345678", "+2609712345678", "abc", "+260-97-123-456x"])
def test_bad_numbers_are_refused(cluster, phone):
    with pytest.raises(InvalidRequestError) as refused:
        add_member(cluster.engine, MemberCreate(phone))
    assert refused.value.code == "phone_invalid"
    assert list_members(cluster.engine) == []


def test_name_and_lookups(cluster):
    with pytest.raises(InvalidRequestError):
        add_member(cluster.engine, MemberCreate("0971234567", "x" * 81))
    with pytest.raises(InvalidRequestError):
        require_member(cluster.engine, 0)
    with pytest.raises(NotFoundError):
        get_member(cluster.engine, 3)


def test_contributions_are_paid_from_the_wallet_and_make_the_share(cluster):
    member_id = cluster.member(deposit_ngwee=800_000)
    first = contribute(cluster.engine, member_id, ContributionCreate(200_000, request_key="c-1"))
    assert contribute(cluster.engine, member_id, ContributionCreate(200_000, request_key="c-1")) == first
    contribute(cluster.engine, member_id, ContributionCreate(500_000))
    assert get_member(cluster.engine, member_id).share_ngwee == 700_000
    assert member_wallet(cluster.engine, member_id).ngwee.balance == 100_000
    assert [c.amount_ngwee for c in list_contributions(cluster.engine, member_id)] == [200_000, 500_000]
    with pytest.raises(ConflictError) as broke:
        contribute(cluster.engine, member_id, ContributionCreate(200_000))
    assert broke.value.code == "insufficient_funds"
    with pytest.raises(ConflictError):
        contribute(cluster.engine, member_id, ContributionCreate(300_000, request_key="c-1"))
    assert get_member(cluster.engine, member_id).share_ngwee == 700_000


def test_interval_ids_are_checked(cluster):
    for text in ("2026-11-21T10:07Z", "2026-11-21T10:00Z/30m", "2019-01-01T00:00Z", "soon"):
        with pytest.raises(InvalidRequestError):
            parse_interval_id(text)


def test_interval_docstring_examples():
    import doctest

    import edge.intervals

    failures, attempts = doctest.testmod(edge.intervals)
    assert attempts > 0 and failures == 0
