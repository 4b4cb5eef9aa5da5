"""The cluster's dynamic price for one interval, and helpers over the price history.

Contract
--------
`dynamic_price(conditions, config)` → int ngwee per kWh within [config.floor, config.cap]:

    exact = reference × time_of_day × supply_demand × utilisation
      time_of_day    = multiplier_bp / 10⁴ of the window holding the interval's start (default 1)
      supply_demand  = 1 + supply_demand_sensitivity_bp / 10⁴ × (D − S) / (D + S)     (1 when D = S = 0)
      utilisation    = 1 + utilisation_sensitivity_bp / 10⁴ × (U − U_target) / 10⁴
    price = clamp(round_half_up(exact), floor, cap)

D is the energy wanted on the market (members' deficits), S the energy offered (members' and the cluster's
surplus), U the cluster's utilisation in basis points. (D − S)/(D + S) runs from −1 (nobody buys) to +1
(nobody sells) and rises with D/S, so the price is bounded without a special case for S = 0 and is monotone
in the demand/supply ratio. Everything is exact rational arithmetic on ints; the one rounding is stated.

History helpers take prices oldest first, one per interval: `volatility_bp` (population standard deviation
of the interval-to-interval relative changes, in basis points, rounded down) and `price_trend`
(least-squares slope over the last N intervals, as a change in basis points of the window's mean price).

Raises AssertionError (via `invariant`) on a malformed config or conditions. No floats anywhere.

>>> dynamic_price(MarketConditions(minute_of_day=12 * 60, demand_wh=1000, supply_wh=1000, utilisation_bp=5000))
120
>>> dynamic_price(MarketConditions(minute_of_day=18 * 60, demand_wh=1000, supply_wh=1000, utilisation_bp=5000))
150
"""

import enum
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from enerlectra.invariant import invariant

from . import limits

BP = limits.basis_points_one
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A daily window [start_minute, end_minute) in local time (Africa/Lusaka, UTC+2, no DST).

    `start_minute > end_minute` wraps past midnight (22:00–06:00 is 1320–360).
    """

    name: str
    start_minute: int
    end_minute: int
    multiplier_bp: int

    def __post_init__(self) -> None:
        invariant(0 <= self.start_minute < MINUTES_PER_DAY, "start_minute must be within a day")
        invariant(0 <= self.end_minute < MINUTES_PER_DAY, "end_minute must be within a day")
        invariant(self.start_minute != self.end_minute, "a window must not be empty")
        invariant(0 < self.multiplier_bp <= 10 * BP, "multiplier_bp must be within (0, 10×]")

    def contains(self, minute_of_day: int) -> bool:
        if self.start_minute < self.end_minute:
            return self.start_minute <= minute_of_day < self.end_minute
        return minute_of_day >= self.start_minute or minute_of_day < self.end_minute


# Zambian household load peaks in the evening (cooking, lighting) and, less, in the morning; the night is
# the trough. Evening +25 %, morning +10 %, night −20 %, daytime (09:00–17:00, solar hours) at reference.
DEFAULT_WINDOWS = (
    TimeWindow("morning", 6 * 60, 9 * 60, 11_000),
    TimeWindow("evening_peak", 17 * 60, 22 * 60, 12_500),
    TimeWindow("night", 22 * 60, 6 * 60, 8_000),
)


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """Tariff parameters; the defaults are the cooperative's starting tariff (1.20 ZMW/kWh reference).

    Multipliers and sensitivities are basis points (10,000 bp = 1). Minutes outside every window use
    `default_multiplier_bp`. With the defaults the uncapped price runs from 0.8×0.7×0.9 ≈ 0.50× (quiet night)
    to 1.25×1.3×1.1 ≈ 1.79× (evening, nobody selling, installation flat out); floor and cap bound it anyway.
    """

    reference_price_ngwee_per_kwh: int = 120
    floor_price_ngwee_per_kwh: int = 60
    cap_price_ngwee_per_kwh: int = 240
    windows: tuple[TimeWindow, ...] = DEFAULT_WINDOWS
    default_multiplier_bp: int = BP
    # At most ±30 % when only one side of the market is present.
    supply_demand_sensitivity_bp: int = 3_000
    # ±10 % when utilisation is 100 % / 0 % against a 50 % target.
    utilisation_target_bp: int = 5_000
    utilisation_sensitivity_bp: int = 2_000

    def __post_init__(self) -> None:
        invariant(self.floor_price_ngwee_per_kwh > 0, "floor must be positive")
        invariant(self.floor_price_ngwee_per_kwh <= self.reference_price_ngwee_per_kwh, "floor <= reference")
        invariant(self.reference_price_ngwee_per_kwh <= self.cap_price_ngwee_per_kwh, "reference <= cap")
        invariant(self.cap_price_ngwee_per_kwh <= limits.price_ngwee_per_kwh_max, "cap within limits")
        invariant(0 < self.default_multiplier_bp <= 10 * BP, "default_multiplier_bp within (0, 10×]")
        invariant(0 <= self.supply_demand_sensitivity_bp < BP, "supply/demand factor must stay positive")
        invariant(0 <= self.utilisation_target_bp <= BP, "utilisation target within [0, 100 %]")
        invariant(0 <= self.utilisation_sensitivity_bp < BP, "utilisation factor must stay positive")
        for minute in range(MINUTES_PER_DAY):
            holding = sum(1 for window in self.windows if window.contains(minute))
            invariant(holding <= 1, f"time windows overlap at minute {minute}")

    def multiplier_bp_at(self, minute_of_day: int) -> int:
        for window in self.windows:
            if window.contains(minute_of_day):
                return window.multiplier_bp
        return self.default_multiplier_bp


DEFAULT_PRICING = PricingConfig()


@dataclass(frozen=True, slots=True)
class MarketConditions:
    """The interval as pricing sees it. `minute_of_day` is the interval's start in local time."""

    minute_of_day: int
    demand_wh: int  # energy wanted on the market: members' deficits after distribution
    supply_wh: int  # energy offered: members' surpluses + the cluster surplus
    utilisation_bp: int  # share of the cluster's rated capacity in use (see `utilisation_bp`)

    def __post_init__(self) -> None:
        invariant(0 <= self.minute_of_day < MINUTES_PER_DAY, "minute_of_day within [0, 1440)")
        invariant(0 <= self.demand_wh <= limits.energy_wh_per_interval_max * limits.cluster_members_max, "D")
        invariant(0 <= self.supply_wh <= limits.energy_wh_per_interval_max * limits.cluster_members_max, "S")
        invariant(0 <= self.utilisation_bp <= BP, "utilisation_bp within [0, 10,000]")


def utilisation_bp(energy_wh_used: int, energy_wh_capacity: int) -> int:
    """Used energy as basis points of capacity, rounded down, at most 10,000; 0 when capacity is 0.

    >>> utilisation_bp(2_999, 4_000)
    7497
    """
    invariant(energy_wh_used >= 0, "used energy must not be negative")
    invariant(energy_wh_capacity >= 0, "capacity must not be negative")
    if energy_wh_capacity == 0:
        return 0
    return min(energy_wh_used * BP // energy_wh_capacity, BP)


def dynamic_price_exact(conditions: MarketConditions, config: PricingConfig = DEFAULT_PRICING) -> Fraction:
    """The unrounded, unbounded price in ngwee per kWh (for explanations and tests)."""
    demand_wh, supply_wh = conditions.demand_wh, conditions.supply_wh
    imbalance = Fraction(0) if demand_wh + supply_wh == 0 else Fraction(demand_wh - supply_wh, demand_wh + supply_wh)
    supply_demand = 1 + Fraction(config.supply_demand_sensitivity_bp, BP) * imbalance
    utilisation = 1 + Fraction(
        config.utilisation_sensitivity_bp * (conditions.utilisation_bp - config.utilisation_target_bp), BP * BP
    )
    time_of_day = Fraction(config.multiplier_bp_at(conditions.minute_of_day), BP)
    exact = config.reference_price_ngwee_per_kwh * time_of_day * supply_demand * utilisation
    invariant(exact > 0, "every factor is positive")
    return exact


def dynamic_price(conditions: MarketConditions, config: PricingConfig = DEFAULT_PRICING) -> int:
    """The interval's price in ngwee per kWh: exact price rounded half up, then clamped to [floor, cap]."""
    exact = dynamic_price_exact(conditions, config)
    rounded = (2 * exact.numerator + exact.denominator) // (2 * exact.denominator)  # half up
    price = min(max(rounded, config.floor_price_ngwee_per_kwh), config.cap_price_ngwee_per_kwh)
    invariant(config.floor_price_ngwee_per_kwh <= price, "price must not fall below the floor")
    invariant(price <= config.cap_price_ngwee_per_kwh, "price must not rise above the cap")
    return price


def _check_history(prices: Sequence[int]) -> None:
    invariant(len(prices) <= limits.price_history_max, "price history exceeds price_history_max")
    for price in prices:
        invariant(type(price) is int, "prices must be ints")
        invariant(0 < price <= limits.price_ngwee_per_kwh_max, "prices must be positive and within limits")


def volatility_bp(prices: Sequence[int]) -> int:
    """Population standard deviation of the relative changes between consecutive prices, in basis points.

    Exact rational variance; the square root is rounded down. Fewer than two prices give 0.

    >>> volatility_bp([100, 110, 99])   # changes +10 %, −10 %: mean 0, deviation 10 %
    1000
    """
    _check_history(prices)
    if len(prices) < 2:
        return 0
    changes = [Fraction(after - before, before) for before, after in itertools.pairwise(prices)]
    mean = sum(changes, Fraction(0)) / len(changes)
    variance = sum(((change - mean) ** 2 for change in changes), Fraction(0)) / len(changes)
    scaled = variance * BP * BP
    # isqrt(floor(x)) == floor(sqrt(x)) for x >= 0: the result is the exact square root rounded down.
    return math.isqrt(scaled.numerator // scaled.denominator)


class TrendDirection(enum.StrEnum):
    RISING = "rising"
    FALLING = "falling"
    STABLE = "stable"


@dataclass(frozen=True, slots=True)
class PriceTrend:
    """Direction over the window, and the fitted change across it in bp of the window's mean price."""

    direction: TrendDirection
    change_bp: int  # rounded toward zero
    intervals_count: int  # how many prices the window held


def price_trend(prices: Sequence[int], intervals_count: int = 8, stable_band_bp: int = 200) -> PriceTrend:
    """Least-squares trend over the last `intervals_count` prices.

    The fitted line's rise from the window's first to last interval, relative to the window's mean price,
    is `change_bp`; beyond ±`stable_band_bp` the trend is rising/falling, otherwise stable. A least-squares
    fit, not first-vs-last, so that one spike at either end does not decide the trend.

    >>> price_trend([100, 100, 110, 120, 130]).direction.value
    'rising'
    """
    _check_history(prices)
    invariant(2 <= intervals_count <= limits.price_history_max, "a trend needs at least two intervals")
    invariant(stable_band_bp >= 0, "stable_band_bp must not be negative")
    window = list(prices[-intervals_count:])
    count = len(window)
    if count < 2:
        return PriceTrend(TrendDirection.STABLE, 0, count)
    # x = 0..count-1; slope = Σ(x − x̄)(y − ȳ) / Σ(x − x̄)², scaled by count to stay in integers.
    sum_x = count * (count - 1) // 2
    sum_y = sum(window)
    covariance = count * sum(index * price for index, price in enumerate(window)) - sum_x * sum_y
    spread = count * sum(index * index for index in range(count)) - sum_x * sum_x
    slope = Fraction(covariance, spread)
    mean = Fraction(sum_y, count)
    change = slope * (count - 1) / mean * BP
    change_bp = int(change)  # int() truncates toward zero
    if change_bp > stable_band_bp:
        direction = TrendDirection.RISING
    elif change_bp < -stable_band_bp:
        direction = TrendDirection.FALLING
    else:
        direction = TrendDirection.STABLE
    return PriceTrend(direction, change_bp, count)
