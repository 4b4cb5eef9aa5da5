"""Distribution of one settlement interval's energy inside a cluster.

Contract
--------
In: a frozen `DistributionInput` — every member's contribution share, consumption and own (prosumer)
generation in the interval, and the cluster's shared generation, all integers (Wh; shares in any integer
unit, e.g. ngwee contributed).

Out: a frozen `Distribution` — per member (in input order) what its own generation covered, what it was
allocated from the shared generation, the deficit left for the market and the surplus it offers to the
market; plus the cluster surplus (shared generation nobody was entitled to or needed).

Rules, in order:
1. Prosumers net first: own generation covers own consumption (`own_used_wh = min(generation,
   consumption)`); what is left of it is the member's surplus, what is left of the consumption is its need.
2. Shared generation is divided among members with a positive share and a positive need, in proportion
   to their shares, never above a member's need; what a capped member does not take is re-divided among
   the others still in need (water-filling). A member with share 0 owns none of the shared equipment and
   is allocated nothing: it buys on the market like anybody else, and the owners are paid for it.
3. Integer Wh: the uncapped members receive the floor of their exact water-filling amount, and the few Wh
   lost to flooring go one each to the largest remainders (ties: smallest `member_id`), so allocations
   sum exactly. No member ever receives more than its need, and an uncapped member is within 1 Wh of its
   exact proportional amount.
4. What is left of the shared generation is the cluster surplus, offered to the market.

Raises AssertionError (via `invariant`) on a malformed snapshot (negative energy, duplicate member, bounds
of `edge.market.limits` exceeded) and if any conservation rule fails. O(n log n) in the member count.

>>> d = distribute(DistributionInput(
...     members=(MemberInterval("a", share=1, consumption_wh=100, generation_wh=0),
...              MemberInterval("b", share=3, consumption_wh=500, generation_wh=0)),
...     shared_generation_wh=400))
>>> [(m.member_id, m.allocation_wh, m.deficit_wh) for m in d.members]
[('a', 100, 0), ('b', 300, 200)]
"""

from dataclasses import dataclass

from enerlectra.invariant import invariant

from . import limits


@dataclass(frozen=True, slots=True)
class MemberInterval:
    """One member's figures for one interval. `share` weighs its claim on the shared generation."""

    member_id: str
    share: int
    consumption_wh: int
    generation_wh: int = 0

    def __post_init__(self) -> None:
        invariant(isinstance(self.member_id, str) and self.member_id != "", "member_id must be a non-empty str")
        invariant(type(self.share) is int, "share must be an int")
        invariant(0 <= self.share <= limits.share_max, "share must be within [0, share_max]")
        invariant(type(self.consumption_wh) is int, "consumption_wh must be an int")
        invariant(0 <= self.consumption_wh <= limits.energy_wh_per_interval_max, "consumption_wh out of range")
        invariant(type(self.generation_wh) is int, "generation_wh must be an int")
        invariant(0 <= self.generation_wh <= limits.energy_wh_per_interval_max, "generation_wh out of range")


@dataclass(frozen=True, slots=True)
class DistributionInput:
    """The interval snapshot: members (any order; results keep it) and the cluster's shared generation."""

    members: tuple[MemberInterval, ...]
    shared_generation_wh: int

    def __post_init__(self) -> None:
        invariant(isinstance(self.members, tuple), "members must be a tuple (a frozen snapshot)")
        invariant(len(self.members) <= limits.cluster_members_max, "members exceed cluster_members_max")
        invariant(type(self.shared_generation_wh) is int, "shared_generation_wh must be an int")
        invariant(
            0 <= self.shared_generation_wh <= limits.energy_wh_per_interval_max,
            "shared_generation_wh out of range",
        )
        member_ids = {member.member_id for member in self.members}
        invariant(len(member_ids) == len(self.members), "member_id must be unique within an interval")


@dataclass(frozen=True, slots=True)
class MemberAllocation:
    """One member's result. consumption = own_used + allocation + deficit; generation = own_used + surplus."""

    member_id: str
    own_used_wh: int  # own generation consumed on the spot
    need_wh: int  # consumption not covered by own generation
    allocation_wh: int  # from the cluster's shared generation
    deficit_wh: int  # need still open: to buy on the market (or go without)
    surplus_wh: int  # own generation beyond own consumption: offered on the market


@dataclass(frozen=True, slots=True)
class Distribution:
    """The interval's distribution. `members` is in input order."""

    members: tuple[MemberAllocation, ...]
    shared_generation_wh: int
    allocated_wh: int  # sum of allocations
    cluster_surplus_wh: int  # shared generation left over: offered on the market
    deficit_wh: int  # sum of member deficits: the market's demand
    member_surplus_wh: int  # sum of member surpluses


def distribute(snapshot: DistributionInput) -> Distribution:
    """Net prosumers, then water-fill the shared generation by share (see the module docstring)."""
    members = snapshot.members
    needs_wh = [max(member.consumption_wh - member.generation_wh, 0) for member in members]
    allocations_wh = _water_fill(
        [member.share for member in members],
        needs_wh,
        [member.member_id for member in members],
        snapshot.shared_generation_wh,
    )
    results = []
    for member, need_wh, allocation_wh in zip(members, needs_wh, allocations_wh, strict=True):
        own_used_wh = min(member.generation_wh, member.consumption_wh)
        result = MemberAllocation(
            member_id=member.member_id,
            own_used_wh=own_used_wh,
            need_wh=need_wh,
            allocation_wh=allocation_wh,
            deficit_wh=need_wh - allocation_wh,
            surplus_wh=member.generation_wh - own_used_wh,
        )
        invariant(0 <= result.allocation_wh <= result.need_wh, "allocation must be within [0, need]")
        invariant(
            result.own_used_wh + result.allocation_wh + result.deficit_wh == member.consumption_wh,
            "consumption must be own use + allocation + deficit",
        )
        invariant(result.own_used_wh + result.surplus_wh == member.generation_wh, "generation conserved")
        invariant(result.deficit_wh == 0 or result.surplus_wh == 0, "a member is never both short and long")
        results.append(result)
    allocated_wh = sum(allocations_wh)
    distribution = Distribution(
        members=tuple(results),
        shared_generation_wh=snapshot.shared_generation_wh,
        allocated_wh=allocated_wh,
        cluster_surplus_wh=snapshot.shared_generation_wh - allocated_wh,
        deficit_wh=sum(result.deficit_wh for result in results),
        member_surplus_wh=sum(result.surplus_wh for result in results),
    )
    entitled_need_wh = sum(need for member, need in zip(members, needs_wh, strict=True) if member.share > 0)
    invariant(
        distribution.allocated_wh == min(snapshot.shared_generation_wh, entitled_need_wh),
        "allocations must sum to min(shared generation, need of members with a share)",
    )
    invariant(distribution.cluster_surplus_wh >= 0, "cannot allocate more than was generated")
    return distribution


def _water_fill(shares: list[int], needs_wh: list[int], member_ids: list[str], supply_wh: int) -> list[int]:
    """Integer water-filling: allocation_i = min(need_i, level * share_i), the level set by the supply.

    Members are visited in ascending order of need/share (the level at which each is capped). A member is
    capped while its need fits under the level the remaining supply would reach across all remaining
    shares; the first one that does not fit, and all after it, share what remains in proportion.
    """
    count = len(shares)
    allocations_wh = [0] * count
    claimants = [index for index in range(count) if shares[index] > 0 and needs_wh[index] > 0]
    if not claimants or supply_wh == 0:
        return allocations_wh
    # need/share as an exact integer sort key: two distinct fractions n1/s1 != n2/s2 differ by at least
    # 1/(s1*s2) >= 1/share_max_seen**2, so scaling by share_max_seen**2 and flooring keeps their order,
    # and equal fractions get equal keys. No floats, no Fraction objects.
    scale = max(shares[index] for index in claimants) ** 2
    claimants.sort(key=lambda index: (needs_wh[index] * scale) // shares[index])

    supply_left_wh = supply_wh
    share_left = sum(shares[index] for index in claimants)
    position = 0
    # Capped while need_i / share_i <= supply_left / share_left (cross-multiplied, exact).
    while position < len(claimants):
        index = claimants[position]
        if needs_wh[index] * share_left > supply_left_wh * shares[index]:
            break
        allocations_wh[index] = needs_wh[index]
        supply_left_wh -= needs_wh[index]
        share_left -= shares[index]
        position += 1
    uncapped = claimants[position:]
    if not uncapped:
        return allocations_wh

    # Proportional split of supply_left among the uncapped: floor, then the largest remainders get +1.
    remainders = []
    floored_total_wh = 0
    for index in uncapped:
        amount_wh, remainder = divmod(supply_left_wh * shares[index], share_left)  # rounds down
        allocations_wh[index] = amount_wh
        floored_total_wh += amount_wh
        remainders.append((-remainder, member_ids[index], index))
    leftover_wh = supply_left_wh - floored_total_wh
    invariant(0 <= leftover_wh < len(uncapped), "flooring loses less than 1 Wh per uncapped member")
    if leftover_wh:
        remainders.sort()
        for _negative_remainder, _member_id, index in remainders[:leftover_wh]:
            allocations_wh[index] += 1
            # Each +1 goes to a non-zero remainder (the fractions sum to leftover_wh, each below 1), and
            # an uncapped member's exact amount is strictly below its need, so the ceiling still fits.
            invariant(allocations_wh[index] <= needs_wh[index], "rounding must not exceed a member's need")
    return allocations_wh
