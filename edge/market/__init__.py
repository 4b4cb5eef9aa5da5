"""The cluster market's pure computations: distribution, dynamic pricing, matching, carbon.

Frozen dataclasses in, frozen dataclasses out; no database, no I/O. Money is int ngwee, energy int Wh,
prices int ngwee per kWh (reference 1.20 ZMW/kWh = 120). The rules are in docs/market.md; each module's
docstring states its contract. Settlement calls, per interval:

    distribution = distribute(DistributionInput(members, shared_generation_wh))
    price = dynamic_price(MarketConditions(minute_of_day, demand_wh, supply_wh, utilisation_bp))
    result = match_orders(orders + (cluster_surplus_order(...),), reference_price_ngwee_per_kwh=price)
"""

from .carbon import (
    DEFAULT_CARBON_FACTORS,
    CarbonFactors,
    CarbonImpact,
    MemberCarbon,
    MemberEnergy,
    carbon_impact,
    cluster_carbon,
    co2_grams_avoided,
    member_carbon,
    renewable_consumption,
)
from .distribution import Distribution, DistributionInput, MemberAllocation, MemberInterval, distribute
from .matching import (
    CLUSTER_MEMBER_ID,
    MatchResult,
    Order,
    OrderFill,
    Side,
    Trade,
    cluster_surplus_order,
    cost_ngwee,
    match_orders,
    orders_from_distribution,
)
from .pricing import (
    DEFAULT_PRICING,
    DEFAULT_WINDOWS,
    MarketConditions,
    PriceTrend,
    PricingConfig,
    TimeWindow,
    TrendDirection,
    dynamic_price,
    dynamic_price_exact,
    price_trend,
    utilisation_bp,
    volatility_bp,
)

__all__ = (
    "CLUSTER_MEMBER_ID",
    "DEFAULT_CARBON_FACTORS",
    "DEFAULT_PRICING",
    "DEFAULT_WINDOWS",
    "CarbonFactors",
    "CarbonImpact",
    "Distribution",
    "DistributionInput",
    "MarketConditions",
    "MatchResult",
    "MemberAllocation",
    "MemberCarbon",
    "MemberEnergy",
    "MemberInterval",
    "Order",
    "OrderFill",
    "PriceTrend",
    "PricingConfig",
    "Side",
    "TimeWindow",
    "Trade",
    "TrendDirection",
    "carbon_impact",
    "cluster_carbon",
    "cluster_surplus_order",
    "co2_grams_avoided",
    "cost_ngwee",
    "distribute",
    "dynamic_price",
    "dynamic_price_exact",
    "match_orders",
    "member_carbon",
    "orders_from_distribution",
    "price_trend",
    "renewable_consumption",
    "utilisation_bp",
    "volatility_bp",
)
