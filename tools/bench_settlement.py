"""Settling one interval for a big cluster, end to end on one core: 10,000 members, 2,000 open orders.

    .venv/bin/python -m tools.bench_settlement [--members 10000] [--orders 2000] [--runs 5]

Setup (not timed; durability relaxed to build it quickly): members with a 2,000–5,000 ZMW contribution each,
one meter each (20 % prosumers), 20 producer meters whose export covers two thirds of the members' need, a
baseline reading before the interval and one at its end for every meter (stored with `edge.readings.store_batch`,
as the ingest writer stores them), and open orders placed through `edge.orders.place_orders` (half sell offers of
banked Wh, half buy bids). The database is then copied once per run.

Timed, per run, on a fresh copy with the gateway's real settings (WAL, synchronous=FULL): `settle_interval` —
the snapshot read from the readings, distribution, price, matching, every transfer posted and the records
written in one durable transaction, and the seal. Prints the median, best and worst, the phase split of the
pure part, and checks the result (conservation, escrow empty, `verify` ok). Budget: 1 s.
"""

import argparse
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey
from sqlalchemy import event

from edge.app import open_database
from edge.bookkeeping import open_books
from edge.db import make_engine
from edge.intervals import parse_interval_id
from edge.ledger import Transfer, balances, post, verify
from edge.ledger.limits import BATCH_TRANSFERS_MAX
from edge.market import DEFAULT_PRICING
from edge.orders import OrderCreate, place_orders
from edge.readings import AcceptedMessage, store_batch
from edge.settlement import plan_settlement, read_snapshot, settle_interval
from edge.wallets import NGWEE, WH, open_member_accounts, system_accounts
from enerlectra.senml import Reading

BUDGET_MS = 1_000
INTERVAL = parse_interval_id("2026-11-21T16:00Z/15m")  # 18:00 in Lusaka: evening peak, little sun
PRODUCERS = 20
KEY = SigningKey(bytes(range(32)))


def _fast(engine):
    """Setup only: skip the fsync per commit (the timed runs use the gateway's own engine)."""

    @event.listens_for(engine, "connect")
    def _relax(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA synchronous=OFF")

    return engine


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def build(path: Path, members_count: int, orders_count: int, seed: int) -> None:
    open_database(path).dispose()
    engine = _fast(make_engine(path))
    generator = random.Random(seed)
    accounts = system_accounts(engine)
    now_s = INTERVAL.start_s

    raw = engine.raw_connection()
    db = raw.driver_connection
    db.executemany("INSERT INTO member (member_id, phone, name, joined_at_s) VALUES (?, ?, '', ?)",
                   [(m, f"+260{970_000_000 + m}", now_s) for m in range(1, members_count + 1)])
    db.commit()
    wallets = {m: open_member_accounts(engine, m) for m in range(1, members_count + 1)}
    db.executemany("UPDATE member SET ngwee_account_id = ?, wh_account_id = ? WHERE member_id = ?",
                   [(ngwee, wh, m) for m, (ngwee, wh) in wallets.items()])

    prosumers = {m for m in wallets if generator.random() < 0.2}
    shares = {m: generator.randrange(200_000, 500_001) for m in wallets}
    usage = {m: (generator.randrange(0, 600), generator.randrange(0, 900) if m in prosumers else 0) for m in wallets}
    need = sum(max(used - made, 0) for used, made in usage.values())
    meters = [(f"meter-{m}", m, "prosumer" if m in prosumers else "consumer") for m in wallets]
    meters += [(f"solar-{p}", None, "producer") for p in range(PRODUCERS)]
    db.executemany("INSERT INTO meter (meter_id, kid, public_key, phone, last_seq, readings) VALUES (?,?,?,?,-1,0)",
                   [(meter_id, os.urandom(8).hex(), "00" * 32, "+260970000000") for meter_id, _, _ in meters])
    db.executemany("INSERT INTO meter_link (meter_id, member_id, role) VALUES (?, ?, ?)", meters)
    db.executemany("INSERT INTO cluster_asset (name, kind, cost_ngwee, rated_power_w, added_at_s) VALUES"
                   " ('array', 'solar_array', 4500000000, ?, ?)", [(need * 4, now_s)])
    db.executemany("INSERT INTO contribution (member_id, amount_ngwee, transfer_key, made_at_s) VALUES (?,?,?,?)",
                   [(m, shares[m], f"bench:contribution:{m}", now_s) for m in wallets])
    db.commit()
    raw.close()

    earlier = INTERVAL.index - 1
    transfers = []
    for m, (ngwee, wh) in wallets.items():
        transfers.append(Transfer(f"bench:deposit:{m}", accounts.mobile_money, ngwee, shares[m] + 100_000, NGWEE,
                                  parse_interval_id("2026-11-20T10:00Z").interval_id, "deposit"))
        transfers.append(Transfer(f"bench:contribution:{m}", ngwee, accounts.cluster_equipment, shares[m], NGWEE,
                                  parse_interval_id("2026-11-20T10:00Z").interval_id, "contribution"))
        if m in prosumers:
            transfers.append(Transfer(f"bench:export:{m}", accounts.generation, wh, 2_000, WH,
                                      parse_interval_id("2026-11-20T10:00Z").interval_id, "export"))
    for chunk in _chunks(transfers, BATCH_TRANSFERS_MAX - 1):
        assert all(result.is_success for result in post(engine, chunk))
    del earlier

    # Readings: a baseline before the interval, and the interval's end; producers export 2/3 of the need.
    produced = [need * 2 // 3 // PRODUCERS] * PRODUCERS
    messages = []
    for meter_id, member_id, _role in meters:
        if member_id is None:
            used, made = 0, produced[int(meter_id.split("-")[1])]
        else:
            used, made = usage[member_id]
        base_in, base_out = generator.randrange(0, 10**6), generator.randrange(0, 10**6)
        readings = [Reading(INTERVAL.start_s - 30, 1, base_in, base_out, 0, 0),
                    Reading(INTERVAL.end_s - 5, 2, base_in + used, base_out + made, 0, 0)]
        messages.append(AcceptedMessage(meter_id, meter_id.encode(), f"bench-{meter_id}", readings, 0))
    for chunk in _chunks(messages, 1_000):
        store_batch(engine, chunk)

    # Orders placed during the interval, through the real path (reservations included), 50 per request.
    sellers, buyers = sorted(prosumers), sorted(set(wallets) - prosumers)
    requests = []
    for index in range(orders_count):
        if index % 2:
            requests.append(OrderCreate(generator.choice(buyers), "buy", generator.randrange(1, 800),
                                        generator.randrange(90, 160)))
        else:
            requests.append(OrderCreate(generator.choice(sellers), "sell", generator.randrange(1, 800),
                                        generator.randrange(90, 160)))
    placed = 0
    for chunk in _chunks(requests, 50):
        placed += sum(1 for result in place_orders(engine, chunk, now_s=INTERVAL.start_s + 60) if result.ok)
    engine.raw_connection().driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    print(f"cluster: {members_count} members ({len(prosumers)} prosumers), {len(meters)} meters, "
          f"{2 * len(meters)} readings, {placed} open orders (of {orders_count} asked; the rest would trade with "
          f"the member's own order or exceed a limit)")


def pure_split(path: Path) -> dict[str, float]:
    """Snapshot and plan, timed inside a transaction that is then rolled back."""
    engine = make_engine(path)
    timings = {}
    accounts = system_accounts(engine)

    class _Rollback(Exception):
        pass

    try:
        with open_books(engine) as books:
            start = time.perf_counter()
            snapshot = read_snapshot(books, INTERVAL, accounts, DEFAULT_PRICING)
            timings["snapshot (SQL)"] = time.perf_counter() - start
            start = time.perf_counter()
            plan = plan_settlement(snapshot)
            timings["plan (pure)"] = time.perf_counter() - start
            timings["transfers"] = len(plan.transfers)
            raise _Rollback
    except _Rollback:
        pass
    engine.dispose()
    return timings


def one_run(source: Path, folder: Path, run: int) -> tuple[float, object]:
    target = folder / f"run-{run}.db"
    shutil.copyfile(source, target)
    engine = make_engine(target)
    start = time.perf_counter()
    result = settle_interval(engine, INTERVAL, KEY, now_s=INTERVAL.end_s + 60)
    elapsed = time.perf_counter() - start
    if run == 0:
        totals: dict[str, int] = {}
        for account in balances(engine):
            totals[account.unit] = totals.get(account.unit, 0) + account.balance
            assert account.may_go_negative or account.available >= 0, account
            assert account.owner != "market:escrow" or account.balance == 0, account
        assert all(total == 0 for total in totals.values()), totals
        report = verify(engine, KEY.verify_key)
        assert report.ok, report.line()
    engine.dispose()
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="bench-settlement-") as name:
        folder = Path(name)
        source = folder / "cluster.db"
        build(source, arguments.members, arguments.orders, seed=2026)
        split = pure_split(source)
        runs = [one_run(source, folder, run) for run in range(arguments.runs)]
    result = runs[0][1]
    print(f"interval {INTERVAL.interval_id}: {result.members_count} members with figures, {result.orders_count}"
          f" orders in the auction, {result.trades_count} trades, {result.transfers_count} transfers posted;"
          f" price {result.dynamic_price_ngwee_per_kwh}, clearing {result.clearing_price_ngwee_per_kwh}")
    print(f"  pure part: snapshot {split['snapshot (SQL)'] * 1000:.0f} ms, plan {split['plan (pure)'] * 1000:.0f} ms")
    values_ms = sorted(elapsed * 1000 for elapsed, _ in runs)
    median_ms = statistics.median(values_ms)
    print(f"  settle_interval (durable, sealed): median {median_ms:.0f} ms, best {values_ms[0]:.0f} ms, "
          f"worst {values_ms[-1]:.0f} ms over {len(runs)} runs; verify ok, money and energy conserved")
    print(f"  {'within' if median_ms <= BUDGET_MS else 'OVER'} the {BUDGET_MS} ms budget")


if __name__ == "__main__":
    main()
