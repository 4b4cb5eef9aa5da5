"""Carbon avoided: factors, rounding down, per-member and cluster aggregation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.market import (
    CarbonFactors,
    CarbonImpact,
    DistributionInput,
    MemberEnergy,
    MemberInterval,
    Order,
    Side,
    carbon_impact,
    cluster_carbon,
    co2_grams_avoided,
    distribute,
    match_orders,
    member_carbon,
    renewable_consumption,
)


@pytest.mark.parametrize(
    ("energy_wh", "grams"),
    [(0, 0), (1, 0), (2, 1), (1_000, 800), (1_234, 987), (26_250, 21_000)],  # 0.8, 1.6, 987.2 g round down
)
def test_grams_from_wh(energy_wh, grams):
    assert co2_grams_avoided(energy_wh) == grams


def test_equivalents():
    # 26.25 kWh → 21 kg: one tree for a year (365 tree-days); 21,000 / 404 = 51.98 miles → 519 tenths.
    assert carbon_impact(26_250) == CarbonImpact(26_250, 21_000, 365, 519)
    # 505 Wh → 404 g: one car-mile; 404·365/21,000 = 7.02 tree-days.
    assert carbon_impact(505) == CarbonImpact(505, 404, 7, 10)


def test_factors_can_be_changed():
    grid = CarbonFactors(co2_grams_per_kwh=100)
    assert co2_grams_avoided(10_000, grid) == 1_000
    with pytest.raises(AssertionError):
        CarbonFactors(tree_co2_grams_per_year=0)
    with pytest.raises(AssertionError):
        co2_grams_avoided(-1)


def test_member_and_cluster_aggregation_convert_totals_once():
    records = [
        MemberEnergy("b", 1),
        MemberEnergy("a", 500),
        MemberEnergy("b", 1),
        MemberEnergy("a", 700),
        MemberEnergy("c", 1),
    ]
    members = member_carbon(records)
    # a: 1,200 Wh → 960 g; b: 2 Wh → 1 g (1.6); c: 1 Wh → 0 g (0.8).
    assert [(m.member_id, m.impact.co2_grams_avoided) for m in members] == [("a", 960), ("b", 1), ("c", 0)]
    # Cluster: 1,203 Wh → 962 g (962.4), one more than the members' rounded 961.
    assert cluster_carbon(records).co2_grams_avoided == 962


def test_renewable_consumption_counts_own_use_allocation_and_market_purchases():
    # p generates 500 and uses 100; a needs 300, gets the 200 shared, buys 100 from p.
    distribution = distribute(
        DistributionInput(
            members=(
                MemberInterval("a", share=1, consumption_wh=300),
                MemberInterval("p", share=0, consumption_wh=100, generation_wh=500),
            ),
            shared_generation_wh=200,
        )
    )
    trades = match_orders(
        (
            Order("ab", "a", Side.BUY, limit_price_ngwee_per_kwh=130, energy_wh=100, sequence=1),
            Order("ps", "p", Side.SELL, limit_price_ngwee_per_kwh=110, energy_wh=400, sequence=2),
        )
    )
    assert renewable_consumption(distribution, trades) == (MemberEnergy("a", 300), MemberEnergy("p", 100))
    assert renewable_consumption(distribution) == (MemberEnergy("a", 200), MemberEnergy("p", 100))


@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 10**7)), max_size=20))
def test_cluster_is_never_less_than_the_members_and_never_overclaims(pairs):
    records = [MemberEnergy(member_id, energy_wh) for member_id, energy_wh in pairs]
    total_wh = sum(energy_wh for _, energy_wh in pairs)
    members = member_carbon(records)
    cluster = cluster_carbon(records)
    member_grams = sum(m.impact.co2_grams_avoided for m in members)
    assert member_grams <= cluster.co2_grams_avoided < member_grams + max(len(members), 1)
    assert cluster.co2_grams_avoided * 1_000 <= total_wh * 800
