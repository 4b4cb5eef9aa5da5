"""Carbon avoided by renewable energy, with tree and car equivalents, per member and per cluster.

Contract
--------
In: renewable energy in integer Wh (per member, any number of records, e.g. one per interval).
Out: frozen `CarbonImpact`s in integers: grams of CO2 avoided, tree-days, tenths of car-miles; every
division rounds down, so a report never claims more than the energy earned.

Factors (`CarbonFactors`, all overridable):
- 800 g CO2 avoided per kWh of renewable energy: the product seed's figure (DESIGN.md, "Money and energy").
  It is typical of the diesel generators and coal-heavy grids solar displaces; Zambia's own grid is mostly
  hydro, so a cooperative reporting against ZESCO power may choose a lower factor.
- 21 kg CO2 absorbed per mature tree per year: the commonly quoted figure (the Arbor Day Foundation gives
  48 lb ≈ 21.8 kg). "Tree-days" = days one such tree needs to absorb the same CO2 (÷ 365 for trees-for-a-year).
- 404 g CO2 per mile driven by a typical passenger car: US EPA, "Greenhouse Gas Emissions from a Typical
  Passenger Vehicle" (EPA-420-F-18-008).

Attribution is by consumption: a member is credited with the renewable energy it used (own solar, its
allocation of the shared generation, and what it bought on the cluster market), so no Wh is counted twice.
Aggregate energy first and convert once: the cluster figure is computed from the cluster's total Wh, so it can
exceed the sum of the rounded member figures by less than 1 unit per member.

>>> carbon_impact(5_000)   # 5 kWh: 4 kg CO2, 69.5 tree-days, 9.9 car-miles
CarbonImpact(energy_wh=5000, co2_grams_avoided=4000, tree_days=69, car_miles_tenths=99)
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from enerlectra.invariant import invariant

from .distribution import Distribution
from .matching import MatchResult

WH_PER_KWH = 1_000
DAYS_PER_YEAR = 365


@dataclass(frozen=True, slots=True)
class CarbonFactors:
    co2_grams_per_kwh: int = 800
    tree_co2_grams_per_year: int = 21_000
    car_co2_grams_per_mile: int = 404

    def __post_init__(self) -> None:
        invariant(self.co2_grams_per_kwh >= 0, "co2_grams_per_kwh must not be negative")
        invariant(self.tree_co2_grams_per_year > 0, "tree_co2_grams_per_year must be positive")
        invariant(self.car_co2_grams_per_mile > 0, "car_co2_grams_per_mile must be positive")


DEFAULT_CARBON_FACTORS = CarbonFactors()


@dataclass(frozen=True, slots=True)
class CarbonImpact:
    energy_wh: int  # renewable energy the figures are computed from
    co2_grams_avoided: int
    tree_days: int  # days one mature tree needs to absorb co2_grams_avoided
    car_miles_tenths: int  # tenths of a mile a typical car drives emitting co2_grams_avoided


@dataclass(frozen=True, slots=True)
class MemberEnergy:
    member_id: str
    energy_wh: int


@dataclass(frozen=True, slots=True)
class MemberCarbon:
    member_id: str
    impact: CarbonImpact


def co2_grams_avoided(energy_wh: int, factors: CarbonFactors = DEFAULT_CARBON_FACTORS) -> int:
    """Grams of CO2 avoided by `energy_wh` of renewable energy, rounded down.

    >>> co2_grams_avoided(1_234)   # 987.2 g
    987
    """
    invariant(type(energy_wh) is int, "energy_wh must be an int")
    invariant(energy_wh >= 0, "energy_wh must not be negative")
    return energy_wh * factors.co2_grams_per_kwh // WH_PER_KWH


def carbon_impact(energy_wh: int, factors: CarbonFactors = DEFAULT_CARBON_FACTORS) -> CarbonImpact:
    """CO2 avoided and its equivalents for `energy_wh` of renewable energy; every division rounds down."""
    grams = co2_grams_avoided(energy_wh, factors)
    impact = CarbonImpact(
        energy_wh=energy_wh,
        co2_grams_avoided=grams,
        tree_days=grams * DAYS_PER_YEAR // factors.tree_co2_grams_per_year,
        car_miles_tenths=grams * 10 // factors.car_co2_grams_per_mile,
    )
    invariant(impact.co2_grams_avoided * WH_PER_KWH <= energy_wh * factors.co2_grams_per_kwh, "never overclaim")
    return impact


def member_carbon(
    records: Iterable[MemberEnergy], factors: CarbonFactors = DEFAULT_CARBON_FACTORS
) -> tuple[MemberCarbon, ...]:
    """Per member, the impact of the sum of its records; sorted by member_id."""
    energy_wh_by_member: dict[str, int] = defaultdict(int)
    for record in records:
        invariant(record.energy_wh >= 0, "energy_wh must not be negative")
        energy_wh_by_member[record.member_id] += record.energy_wh
    return tuple(
        MemberCarbon(member_id, carbon_impact(energy_wh_by_member[member_id], factors))
        for member_id in sorted(energy_wh_by_member)
    )


def cluster_carbon(records: Iterable[MemberEnergy], factors: CarbonFactors = DEFAULT_CARBON_FACTORS) -> CarbonImpact:
    """The cluster's impact, converted once from the total Wh of all records."""
    total_wh = 0
    for record in records:
        invariant(record.energy_wh >= 0, "energy_wh must not be negative")
        total_wh += record.energy_wh
    return carbon_impact(total_wh, factors)


def renewable_consumption(
    distribution: Distribution, match_result: MatchResult | None = None
) -> tuple[MemberEnergy, ...]:
    """Renewable Wh each member used in the interval: own solar + allocation + bought on the cluster market.

    Every seller on the cluster market is a prosumer or the cluster's shared installation, so market energy is
    solar. Members in distribution order; a buyer that is not in the distribution is appended after them.
    """
    energy_wh_by_member = {
        member.member_id: member.own_used_wh + member.allocation_wh for member in distribution.members
    }
    if match_result is not None:
        for trade in match_result.trades:
            energy_wh_by_member[trade.buyer_member_id] = (
                energy_wh_by_member.get(trade.buyer_member_id, 0) + trade.energy_wh
            )
    return tuple(MemberEnergy(member_id, energy_wh) for member_id, energy_wh in energy_wh_by_member.items())
