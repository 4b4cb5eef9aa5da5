"""Benchmark of one settlement interval's pure market work: 10,000 members, 2,000 open orders, one core.

    .venv/bin/python -m tools.bench_market [--runs 5] [--members 10000] [--orders 2000]

Times, per run: building the frozen snapshot (validation included), distribution, dynamic price, matching
(the cluster surplus offered at the dynamic price beside the members' orders) and carbon for every member.
Prints the median and the worst in milliseconds. Budget: the whole interval settlement within 1 s; this is
the pure part of it. Data is pseudo-random with a fixed seed, so runs are comparable.
"""

import argparse
import random
import statistics
import time

from edge.market import (
    DistributionInput,
    MarketConditions,
    MemberInterval,
    Order,
    Side,
    cluster_carbon,
    cluster_surplus_order,
    distribute,
    dynamic_price,
    match_orders,
    member_carbon,
    renewable_consumption,
    utilisation_bp,
)

BUDGET_MS = 1_000


def member_figures(members_count: int, seed: int) -> list[tuple[str, int, int, int]]:
    """(member_id, share ngwee, consumption Wh, own generation Wh) for one 15-minute evening interval."""
    generator = random.Random(seed)
    figures = []
    for index in range(members_count):
        share_ngwee = generator.randrange(200_000, 500_001)  # 2,000–5,000 ZMW contributed
        consumption_wh = generator.randrange(0, 600)  # up to 2.4 kW average over the interval
        prosumer = generator.random() < 0.2
        generation_wh = generator.randrange(0, 900) if prosumer else 0
        figures.append((f"+260{970_000_000 + index}", share_ngwee, consumption_wh, generation_wh))
    return figures


def open_orders(orders_count: int, member_ids: list[str], seed: int) -> tuple[Order, ...]:
    generator = random.Random(seed + 1)
    orders = []
    for index in range(orders_count):
        side = Side.BUY if index % 2 else Side.SELL
        orders.append(
            Order(
                order_id=f"order-{index}",
                member_id=generator.choice(member_ids),
                side=side,
                limit_price_ngwee_per_kwh=generator.randrange(90, 160),
                energy_wh=generator.randrange(1, 800),
                sequence=index,
            )
        )
    return tuple(orders)


def one_interval(figures, orders, shared_generation_wh: int, capacity_wh: int) -> dict[str, float]:
    timings = {}
    start = time.perf_counter()
    snapshot = DistributionInput(
        members=tuple(
            MemberInterval(member_id, share, consumption, generation)
            for member_id, share, consumption, generation in figures
        ),
        shared_generation_wh=shared_generation_wh,
    )
    timings["snapshot"] = time.perf_counter() - start

    mark = time.perf_counter()
    distribution = distribute(snapshot)
    timings["distribution"] = time.perf_counter() - mark

    mark = time.perf_counter()
    conditions = MarketConditions(
        minute_of_day=18 * 60,
        demand_wh=distribution.deficit_wh,
        supply_wh=distribution.member_surplus_wh + distribution.cluster_surplus_wh,
        utilisation_bp=utilisation_bp(distribution.allocated_wh, capacity_wh),
    )
    price = dynamic_price(conditions)
    timings["pricing"] = time.perf_counter() - mark

    mark = time.perf_counter()
    book = orders
    if distribution.cluster_surplus_wh:
        book = (*orders, cluster_surplus_order(distribution.cluster_surplus_wh, price, sequence=len(orders)))
    result = match_orders(book, reference_price_ngwee_per_kwh=price)
    timings["matching"] = time.perf_counter() - mark

    mark = time.perf_counter()
    records = renewable_consumption(distribution, result)
    member_carbon(records)
    cluster_carbon(records)
    timings["carbon"] = time.perf_counter() - mark

    timings["total"] = time.perf_counter() - start
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=2_000)
    arguments = parser.parse_args()

    figures = member_figures(arguments.members, seed=2024)
    orders = open_orders(arguments.orders, [member_id for member_id, *_ in figures], seed=2024)
    total_need_wh = sum(max(consumption - generation, 0) for _, _, consumption, generation in figures)
    shared_generation_wh = total_need_wh * 2 // 3  # rounds down: two thirds of the need is covered
    capacity_wh = total_need_wh  # rated output over the interval

    runs = [one_interval(figures, orders, shared_generation_wh, capacity_wh) for _ in range(arguments.runs)]
    print(f"market interval: {arguments.members} members, {arguments.orders} orders, {arguments.runs} runs")
    for phase in ("snapshot", "distribution", "pricing", "matching", "carbon", "total"):
        values_ms = [run[phase] * 1_000 for run in runs]
        print(f"  {phase:<13} median {statistics.median(values_ms):8.1f} ms   max {max(values_ms):8.1f} ms")
    median_total_ms = statistics.median(run["total"] for run in runs) * 1_000
    verdict = "within" if median_total_ms <= BUDGET_MS else "OVER"
    print(f"  {verdict} the {BUDGET_MS} ms interval budget")


if __name__ == "__main__":
    main()
