"""Distribution of shared generation: worked examples, edge cases, and properties against an exact model."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market import Distribution, DistributionInput, MemberInterval, distribute


def by_id(distribution: Distribution) -> dict:
    return {member.member_id: member for member in distribution.members}


def test_water_filling_worked_example():
    # Shares 100 : 100 : 200 (S = 400), needs a 50, b 400, c 400, shared 600 Wh.
    # Level 600/400 = 1.5 Wh per share unit: a would get 150 > need 50, so a is capped at 50.
    # 550 Wh left over shares 300: b 550·100/300 = 183.33, c 550·200/300 = 366.67 (both below 400: uncapped).
    # Floors 183 + 366 = 549; the 1 Wh left goes to the largest remainder (c: 200/300 against b: 100/300).
    snapshot = DistributionInput(
        members=(
            MemberInterval("a", share=100, consumption_wh=50),
            MemberInterval("b", share=100, consumption_wh=400),
            MemberInterval("c", share=200, consumption_wh=400),
        ),
        shared_generation_wh=600,
    )
    result = distribute(snapshot)
    assert [m.allocation_wh for m in result.members] == [50, 183, 367]
    assert [m.deficit_wh for m in result.members] == [0, 217, 33]
    assert result.allocated_wh == 600
    assert result.cluster_surplus_wh == 0
    assert result.deficit_wh == 250


def test_capped_member_leaves_the_rest_to_the_others():
    # Equal shares, needs 10, 100, 100, shared 150: 50 each, but a needs only 10, so b and c get 70 each.
    result = distribute(
        DistributionInput(
            members=tuple(
                MemberInterval(name, share=1, consumption_wh=need) for name, need in (("a", 10), ("b", 100), ("c", 100))
            ),
            shared_generation_wh=150,
        )
    )
    assert [m.allocation_wh for m in result.members] == [10, 70, 70]


def test_prosumer_nets_own_generation_first():
    # p: consumes 300, generates 500: uses 300 of its own, offers 200, needs nothing.
    # q: consumes 400, generates 100: uses 100 of its own, needs 300, gets the whole 100 of shared generation.
    result = by_id(
        distribute(
            DistributionInput(
                members=(
                    MemberInterval("p", share=1, consumption_wh=300, generation_wh=500),
                    MemberInterval("q", share=1, consumption_wh=400, generation_wh=100),
                ),
                shared_generation_wh=100,
            )
        )
    )
    assert (result["p"].own_used_wh, result["p"].need_wh, result["p"].allocation_wh, result["p"].surplus_wh) == (
        300,
        0,
        0,
        200,
    )
    assert (result["q"].own_used_wh, result["q"].need_wh, result["q"].allocation_wh, result["q"].deficit_wh) == (
        100,
        300,
        100,
        200,
    )


def test_largest_remainder_ties_go_to_the_smallest_member_id_whatever_the_input_order():
    # 100 Wh over three equal shares: 33 each and 1 Wh left; all remainders equal, so "a" gets it.
    members = [MemberInterval(name, share=5, consumption_wh=1_000) for name in ("c", "a", "b")]
    for ordering in (members, members[::-1]):
        result = by_id(distribute(DistributionInput(members=tuple(ordering), shared_generation_wh=100)))
        assert (result["a"].allocation_wh, result["b"].allocation_wh, result["c"].allocation_wh) == (34, 33, 33)


def test_more_generation_than_need_goes_to_the_cluster_surplus():
    result = distribute(
        DistributionInput(
            members=(
                MemberInterval("a", share=1, consumption_wh=100),
                MemberInterval("b", share=3, consumption_wh=200),
            ),
            shared_generation_wh=1_000,
        )
    )
    assert [m.allocation_wh for m in result.members] == [100, 200]
    assert result.cluster_surplus_wh == 700
    assert result.deficit_wh == 0


def test_no_generation():
    result = distribute(
        DistributionInput(members=(MemberInterval("a", share=1, consumption_wh=100),), shared_generation_wh=0)
    )
    assert result.members[0].allocation_wh == 0
    assert result.members[0].deficit_wh == 100
    assert result.cluster_surplus_wh == 0


def test_zero_consumption_leaves_everything_to_the_market():
    result = distribute(
        DistributionInput(
            members=(
                MemberInterval("a", share=1, consumption_wh=0, generation_wh=40),
                MemberInterval("b", share=1, consumption_wh=0),
            ),
            shared_generation_wh=500,
        )
    )
    assert result.allocated_wh == 0
    assert result.cluster_surplus_wh == 500
    assert result.member_surplus_wh == 40


def test_all_shares_zero_allocates_nothing():
    # Nobody owns the shared equipment: the whole shared generation is offered on the market.
    result = distribute(
        DistributionInput(
            members=(MemberInterval("a", share=0, consumption_wh=100), MemberInterval("b", share=0, consumption_wh=50)),
            shared_generation_wh=120,
        )
    )
    assert result.allocated_wh == 0
    assert result.cluster_surplus_wh == 120
    assert result.deficit_wh == 150


def test_zero_share_member_buys_on_the_market_even_when_generation_is_left():
    result = by_id(
        distribute(
            DistributionInput(
                members=(
                    MemberInterval("owner", share=10, consumption_wh=100),
                    MemberInterval("renter", share=0, consumption_wh=100),
                ),
                shared_generation_wh=300,
            )
        )
    )
    assert result["owner"].allocation_wh == 100
    assert result["renter"].allocation_wh == 0
    assert result["renter"].deficit_wh == 100


def test_one_member_and_no_members():
    one = distribute(
        DistributionInput(members=(MemberInterval("a", share=7, consumption_wh=90),), shared_generation_wh=50)
    )
    assert (one.members[0].allocation_wh, one.members[0].deficit_wh, one.cluster_surplus_wh) == (50, 40, 0)
    empty = distribute(DistributionInput(members=(), shared_generation_wh=50))
    assert (empty.members, empty.allocated_wh, empty.cluster_surplus_wh) == ((), 0, 50)


@pytest.mark.parametrize(
    "build",
    [
        lambda: MemberInterval("a", share=-1, consumption_wh=0),
        lambda: MemberInterval("a", share=1, consumption_wh=-1),
        lambda: MemberInterval("a", share=1, consumption_wh=0, generation_wh=-5),
        lambda: MemberInterval("", share=1, consumption_wh=0),
        lambda: MemberInterval("a", share=1, consumption_wh=1.5),
        lambda: MemberInterval("a", share=1, consumption_wh=10**12),
        lambda: DistributionInput(members=(), shared_generation_wh=-1),
        lambda: DistributionInput(members=[], shared_generation_wh=0),
        lambda: DistributionInput(
            members=(MemberInterval("a", share=1, consumption_wh=0), MemberInterval("a", share=2, consumption_wh=0)),
            shared_generation_wh=0,
        ),
    ],
    ids=[
        "negative share",
        "negative consumption",
        "negative generation",
        "empty id",
        "float energy",
        "beyond limits",
        "negative shared generation",
        "list not tuple",
        "duplicate member",
    ],
)
def test_malformed_snapshots_are_programmer_errors(build):
    with pytest.raises(AssertionError):
        build()


def test_ten_thousand_members():
    members = tuple(
        MemberInterval(
            f"m{index:05d}", share=1_000 + index % 97, consumption_wh=index % 500, generation_wh=(index * 7) % 300
        )
        for index in range(10_000)
    )
    result = distribute(DistributionInput(members=members, shared_generation_wh=400_000))
    entitled_need_wh = sum(m.need_wh for m in result.members)
    assert result.allocated_wh == min(400_000, entitled_need_wh)


# --- properties -------------------------------------------------------------------------------------------------

member_figures = st.tuples(
    st.integers(0, 50),  # share (small, so zero shares and ties are common)
    st.integers(0, 2_000),  # consumption
    st.integers(0, 2_000) | st.just(0),  # own generation
)


@st.composite
def snapshots(draw):
    figures = draw(st.lists(member_figures, max_size=12))
    members = tuple(
        MemberInterval(f"m{index}", share=share, consumption_wh=consumption, generation_wh=generation)
        for index, (share, consumption, generation) in enumerate(figures)
    )
    return DistributionInput(members=members, shared_generation_wh=draw(st.integers(0, 10_000)))


def exact_water_filling(snapshot: DistributionInput) -> dict[str, Fraction]:
    """Reference model: the continuous water-filling, one capping round at a time (quadratic, exact)."""
    needs = {m.member_id: Fraction(max(m.consumption_wh - m.generation_wh, 0)) for m in snapshot.members}
    shares = {m.member_id: m.share for m in snapshot.members}
    result = {member_id: Fraction(0) for member_id in needs}
    open_ids = {member_id for member_id in needs if shares[member_id] > 0 and needs[member_id] > 0}
    supply = Fraction(snapshot.shared_generation_wh)
    while open_ids and supply > 0:
        level = supply / sum(shares[member_id] for member_id in open_ids)
        capped = {member_id for member_id in open_ids if needs[member_id] <= level * shares[member_id]}
        if not capped:
            for member_id in open_ids:
                result[member_id] = level * shares[member_id]
            break
        for member_id in capped:
            result[member_id] = needs[member_id]
            supply -= needs[member_id]
        open_ids -= capped
    return result


@settings(deadline=None)
@given(snapshots())
def test_allocations_match_exact_water_filling_within_one_wh(snapshot):
    result = distribute(snapshot)
    exact = exact_water_filling(snapshot)
    for member in result.members:
        assert abs(member.allocation_wh - exact[member.member_id]) < 1
        if exact[member.member_id].denominator == 1:
            assert member.allocation_wh == exact[member.member_id]


@settings(deadline=None)
@given(snapshots())
def test_allocations_sum_to_the_smaller_of_supply_and_entitled_need(snapshot):
    result = distribute(snapshot)
    shares = {m.member_id: m.share for m in snapshot.members}
    entitled_need_wh = sum(m.need_wh for m in result.members if shares[m.member_id] > 0)
    assert result.allocated_wh == min(snapshot.shared_generation_wh, entitled_need_wh)
    assert result.allocated_wh + result.cluster_surplus_wh == snapshot.shared_generation_wh
    for member, figures in zip(result.members, snapshot.members, strict=True):
        assert 0 <= member.allocation_wh <= member.need_wh
        assert member.own_used_wh + member.allocation_wh + member.deficit_wh == figures.consumption_wh
        assert member.own_used_wh + member.surplus_wh == figures.generation_wh
        if figures.share == 0:
            assert member.allocation_wh == 0


@settings(deadline=None)
@given(snapshots())
def test_share_proportional_when_nobody_is_capped(snapshot):
    result = distribute(snapshot)
    entitled = [(m, f) for m, f in zip(result.members, snapshot.members, strict=True) if f.share > 0 and m.need_wh > 0]
    total_share = sum(f.share for _, f in entitled)
    supply = snapshot.shared_generation_wh
    nobody_capped = all(supply * f.share <= m.need_wh * total_share for m, f in entitled)
    if entitled and nobody_capped:
        for member, figures in entitled:
            # |allocation − supply·share/total| < 1, cross-multiplied.
            assert abs(member.allocation_wh * total_share - supply * figures.share) < total_share


@settings(deadline=None)
@given(snapshots())
def test_nobody_gets_more_per_share_than_a_member_left_short(snapshot):
    result = distribute(snapshot)
    entitled = [(m, f.share) for m, f in zip(result.members, snapshot.members, strict=True) if f.share > 0]
    for short, short_share in entitled:
        if short.deficit_wh == 0:
            continue
        for other, other_share in entitled:
            assert (other.allocation_wh - 1) * short_share < (short.allocation_wh + 1) * other_share


@settings(deadline=None)
@given(snapshots(), st.randoms(use_true_random=False))
def test_result_does_not_depend_on_member_order(snapshot, random):
    shuffled = list(snapshot.members)
    random.shuffle(shuffled)
    first = by_id(distribute(snapshot))
    second = by_id(
        distribute(DistributionInput(members=tuple(shuffled), shared_generation_wh=snapshot.shared_generation_wh))
    )
    assert first == second
