"""Dynamic price: worked examples, window boundaries, bounds, monotonicity; history volatility and trend."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.market import (
    DEFAULT_PRICING,
    MarketConditions,
    PricingConfig,
    TimeWindow,
    TrendDirection,
    dynamic_price,
    dynamic_price_exact,
    price_trend,
    utilisation_bp,
    volatility_bp,
)

NOON, EVENING, MORNING, NIGHT = 12 * 60, 18 * 60, 7 * 60, 2 * 60


def conditions(minute=NOON, demand_wh=1_000, supply_wh=1_000, utilisation=5_000):
    return MarketConditions(minute_of_day=minute, demand_wh=demand_wh, supply_wh=supply_wh, utilisation_bp=utilisation)


@pytest.mark.parametrize(
    ("minute", "expected"),
    [
        (NOON, 120),  # daytime: reference
        (EVENING, 150),  # 120 × 1.25
        (MORNING, 132),  # 120 × 1.10
        (NIGHT, 96),  # 120 × 0.80
    ],
)
def test_time_of_day_in_a_balanced_half_used_cluster(minute, expected):
    assert dynamic_price(conditions(minute=minute)) == expected


@pytest.mark.parametrize(
    ("minute", "multiplier_bp"),
    [
        (6 * 60 - 1, 8_000),
        (6 * 60, 11_000),
        (9 * 60 - 1, 11_000),
        (9 * 60, 10_000),
        (17 * 60 - 1, 10_000),
        (17 * 60, 12_500),
        (22 * 60 - 1, 12_500),
        (22 * 60, 8_000),
        (0, 8_000),
        (24 * 60 - 1, 8_000),
    ],
)
def test_window_boundaries_start_inclusive_end_exclusive(minute, multiplier_bp):
    assert DEFAULT_PRICING.multiplier_bp_at(minute) == multiplier_bp


def test_supply_and_demand():
    # Only buyers: 1 + 0.3 × 1 → 156. Only sellers: 1 − 0.3 → 84. D = 3 S: (3−1)/(3+1) = 0.5 → 1.15 → 138.
    assert dynamic_price(conditions(demand_wh=500, supply_wh=0)) == 156
    assert dynamic_price(conditions(demand_wh=0, supply_wh=500)) == 84
    assert dynamic_price(conditions(demand_wh=3_000, supply_wh=1_000)) == 138
    assert dynamic_price(conditions(demand_wh=0, supply_wh=0)) == 120  # empty market: neutral


def test_utilisation():
    # 1 + 0.2 × (U − 0.5): 100 % → 1.10 → 132; 0 % → 0.90 → 108.
    assert dynamic_price(conditions(utilisation=10_000)) == 132
    assert dynamic_price(conditions(utilisation=0)) == 108


def test_rounding_is_half_up():
    # Evening, nobody selling, installation flat out: 120 × 1.25 × 1.3 × 1.1 = 214.5 → 215.
    worst = conditions(minute=EVENING, demand_wh=1, supply_wh=0, utilisation=10_000)
    assert dynamic_price_exact(worst) == Fraction(429, 2)
    assert dynamic_price(worst) == 215
    # Night, nobody buying, idle: 120 × 0.8 × 0.7 × 0.9 = 60.48 → 60.
    best = conditions(minute=NIGHT, demand_wh=0, supply_wh=1, utilisation=0)
    assert dynamic_price_exact(best) == Fraction(1512, 25)
    assert dynamic_price(best) == 60


def test_floor_and_cap_bound_the_price():
    tight = PricingConfig(floor_price_ngwee_per_kwh=70, cap_price_ngwee_per_kwh=200)
    assert dynamic_price(conditions(minute=EVENING, demand_wh=1, supply_wh=0, utilisation=10_000), tight) == 200
    assert dynamic_price(conditions(minute=NIGHT, demand_wh=0, supply_wh=1, utilisation=0), tight) == 70


@pytest.mark.parametrize(
    "build",
    [
        lambda: PricingConfig(windows=(TimeWindow("a", 60, 180, 10_000), TimeWindow("b", 120, 240, 10_000))),
        lambda: PricingConfig(floor_price_ngwee_per_kwh=130),
        lambda: PricingConfig(cap_price_ngwee_per_kwh=100),
        lambda: PricingConfig(floor_price_ngwee_per_kwh=0),
        lambda: PricingConfig(supply_demand_sensitivity_bp=10_000),
        lambda: TimeWindow("empty", 60, 60, 10_000),
        lambda: TimeWindow("late", 0, 1_440, 10_000),
        lambda: MarketConditions(minute_of_day=1_440, demand_wh=0, supply_wh=0, utilisation_bp=0),
        lambda: MarketConditions(minute_of_day=0, demand_wh=-1, supply_wh=0, utilisation_bp=0),
        lambda: MarketConditions(minute_of_day=0, demand_wh=0, supply_wh=0, utilisation_bp=10_001),
    ],
    ids=[
        "overlapping windows",
        "floor above reference",
        "cap below reference",
        "zero floor",
        "sensitivity 100 %",
        "empty window",
        "minute 1440",
        "minute of day",
        "negative demand",
        "utilisation above 100 %",
    ],
)
def test_malformed_config_and_conditions(build):
    with pytest.raises(AssertionError):
        build()


def test_utilisation_helper_rounds_down_and_saturates():
    assert utilisation_bp(2_999, 4_000) == 7_497  # 7,497.5
    assert utilisation_bp(5_000, 4_000) == 10_000
    assert utilisation_bp(10, 0) == 0


# --- properties -------------------------------------------------------------------------------------------------

energies = st.integers(0, 10**9)


@st.composite
def configs(draw):
    floor = draw(st.integers(1, 200))
    reference = draw(st.integers(floor, 400))
    cap = draw(st.integers(reference, 1_000))
    return PricingConfig(
        reference_price_ngwee_per_kwh=reference,
        floor_price_ngwee_per_kwh=floor,
        cap_price_ngwee_per_kwh=cap,
        supply_demand_sensitivity_bp=draw(st.integers(0, 9_999)),
        utilisation_target_bp=draw(st.integers(0, 10_000)),
        utilisation_sensitivity_bp=draw(st.integers(0, 9_999)),
    )


@settings(deadline=None)
@given(configs(), st.integers(0, 1_439), energies, energies, st.integers(0, 10_000))
def test_price_stays_within_floor_and_cap(config, minute, demand_wh, supply_wh, utilisation):
    price = dynamic_price(conditions(minute, demand_wh, supply_wh, utilisation), config)
    assert config.floor_price_ngwee_per_kwh <= price <= config.cap_price_ngwee_per_kwh


def ratio_key(demand_wh: int, supply_wh: int) -> tuple[int, int]:
    return (1, 1) if demand_wh == supply_wh == 0 else (demand_wh, supply_wh)


@settings(deadline=None)
@given(configs(), st.integers(0, 1_439), st.integers(0, 10_000), energies, energies, energies, energies)
def test_price_is_monotone_in_the_demand_supply_ratio(config, minute, utilisation, d1, s1, d2, s2):
    (d1r, s1r), (d2r, s2r) = ratio_key(d1, s1), ratio_key(d2, s2)
    if d1r * s2r > d2r * s1r:  # order so that ratio 1 <= ratio 2 (cross-multiplied; S = 0 is infinity)
        d1, s1, d2, s2 = d2, s2, d1, s1
    low = dynamic_price(conditions(minute, d1, s1, utilisation), config)
    high = dynamic_price(conditions(minute, d2, s2, utilisation), config)
    assert low <= high


@settings(deadline=None)
@given(configs(), st.integers(0, 1_439), energies, energies, st.integers(0, 10_000), st.integers(0, 10_000))
def test_price_is_monotone_in_utilisation(config, minute, demand_wh, supply_wh, u1, u2):
    low, high = sorted((u1, u2))
    assert dynamic_price(conditions(minute, demand_wh, supply_wh, low), config) <= dynamic_price(
        conditions(minute, demand_wh, supply_wh, high), config
    )


# --- history ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prices", "expected_bp"),
    [
        ([], 0),
        ([120], 0),
        ([100, 200], 0),  # one change: no spread
        ([120, 120, 120], 0),
        ([100, 110, 99], 1_000),  # +10 %, −10 %: mean 0, deviation 10 %
        ([100, 150, 150], 2_500),  # +50 %, 0 %: mean 25 %, deviation 25 %
        ([100, 101, 100], 99),  # +1 %, −0.990 %: deviation 0.995 % → 99 bp (rounded down)
    ],
)
def test_volatility(prices, expected_bp):
    assert volatility_bp(prices) == expected_bp


@pytest.mark.parametrize(
    ("prices", "direction", "change_bp"),
    [
        # slope 2 per interval, fitted rise 6 over the window, mean 103: 6/103 = 582.5 bp → 582.
        ([100, 102, 104, 106], TrendDirection.RISING, 582),
        ([106, 104, 102, 100], TrendDirection.FALLING, -582),
        # Σx = 6, Σy = 402, Σxy = 604: slope (4·604 − 6·402)/(4·14 − 36) = 4/20; rise 0.6 over mean 100.5 → 59 bp.
        ([100, 101, 100, 101], TrendDirection.STABLE, 59),
        ([120], TrendDirection.STABLE, 0),
        ([], TrendDirection.STABLE, 0),
    ],
)
def test_trend(prices, direction, change_bp):
    trend = price_trend(prices, intervals_count=8)
    assert (trend.direction, trend.change_bp) == (direction, change_bp)


def test_trend_looks_only_at_the_last_intervals():
    # An old fall does not count: the last three prices are flat.
    trend = price_trend([200, 150, 100, 100, 100], intervals_count=3)
    assert (trend.direction, trend.change_bp, trend.intervals_count) == (TrendDirection.STABLE, 0, 3)


def test_history_must_be_positive_ints():
    with pytest.raises(AssertionError):
        volatility_bp([120, 0])
    with pytest.raises(AssertionError):
        price_trend([120, 1.5])
    with pytest.raises(AssertionError):
        price_trend([120, 121], intervals_count=1)
