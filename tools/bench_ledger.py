"""Ledger throughput: posted transfers per second, durable in SQLite (WAL, synchronous=FULL), and verify time.

    .venv/bin/python -m tools.bench_ledger [--transfers 100000] [--batch-sizes 1000,8000] [--members 500]

Each batch size gets a fresh database in a temporary folder. The workload is a settlement-like mix: top-ups
(mobile money -> member, ngwee), allocations (generation -> member, Wh) and trades (a linked pair: buyer pays the
seller ngwee, the seller delivers Wh). Transfers are built before the clock starts; the timed part is `post` (one
SQLite transaction per batch, committed with fsync) and then `verify` over the whole journal. The process is
pinned to one core where the OS allows it.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from nacl.signing import SigningKey

from edge.db import create_schema, make_engine
from edge.ledger import Transfer, TransferFlags, TransferResult, open_account, post, seal_interval, verify


def _accounts(engine, members_count: int) -> dict:
    ids = {
        "mobile_money": open_account(engine, "system:mobile_money", "ngwee", may_go_negative=True),
        "generation": open_account(engine, "system:generation", "wh", may_go_negative=True),
        "money": [open_account(engine, f"member:{m}", "ngwee") for m in range(members_count)],
        "energy": [open_account(engine, f"member:{m}", "wh") for m in range(members_count)],
    }
    opening = []
    for m in range(members_count):
        opening.append(Transfer(f"open:money:{m}", ids["mobile_money"], ids["money"][m], 10**9, "ngwee", "0", "topup"))
        opening.append(Transfer(f"open:wh:{m}", ids["generation"], ids["energy"][m], 10**9, "wh", "0", "allocation"))
    results = post(engine, opening)
    assert all(result is TransferResult.OK for result in results)
    return ids


def _workload(ids: dict, transfers_count: int, batch_size: int) -> list[list[Transfer]]:
    money, energy = ids["money"], ids["energy"]
    members_count = len(money)
    transfers: list[Transfer] = []
    i = 0
    while len(transfers) < transfers_count:
        interval_id = str(1 + len(transfers) // batch_size)
        buyer, seller = i % members_count, (i * 7 + 1) % members_count
        if buyer == seller:
            seller = (seller + 1) % members_count
        slot = i % 4
        if slot == 0:
            transfers.append(
                Transfer(f"t{i}", ids["mobile_money"], money[buyer], 500 + i % 97, "ngwee", interval_id, "topup")
            )
        elif slot == 1:
            transfers.append(
                Transfer(f"a{i}", ids["generation"], energy[buyer], 50 + i % 13, "wh", interval_id, "allocation")
            )
        elif len(transfers) + 2 <= transfers_count and len(transfers) % batch_size <= batch_size - 2:
            wh = 10 + i % 7
            transfers.append(
                Transfer(
                    f"m{i}",
                    money[buyer],
                    money[seller],
                    wh * 120 // 100,
                    "ngwee",
                    interval_id,
                    "trade",
                    TransferFlags.LINKED,
                )
            )
            transfers.append(Transfer(f"e{i}", energy[seller], energy[buyer], wh, "wh", interval_id, "trade"))
        else:
            transfers.append(Transfer(f"t{i}", ids["mobile_money"], money[buyer], 100, "ngwee", interval_id, "topup"))
        i += 1
    return [transfers[start : start + batch_size] for start in range(0, len(transfers), batch_size)]


def bench(transfers_count: int, batch_size: int, members_count: int, folder: Path) -> None:
    engine = make_engine(folder / f"ledger-{batch_size}.db")
    create_schema(engine)
    ids = _accounts(engine, members_count)
    batches = _workload(ids, transfers_count, batch_size)
    key = SigningKey.generate()

    started = time.perf_counter()
    posted = 0
    for index, batch in enumerate(batches):
        results = post(engine, batch)
        posted += sum(1 for result in results if result is TransferResult.OK)
        seal_interval(engine, f"interval-{index}", key)
    elapsed_s = time.perf_counter() - started
    assert posted == transfers_count, (posted, transfers_count)

    started = time.perf_counter()
    retried = sum(1 for result in post(engine, batches[0]) if result is TransferResult.EXISTS)
    retry_s = time.perf_counter() - started
    assert retried == len(batches[0])

    started = time.perf_counter()
    report = verify(engine, key.verify_key)
    verify_s = time.perf_counter() - started
    assert report.ok, report.line()
    engine.dispose()
    print(
        f"batch {batch_size:>6}: {posted} transfers in {len(batches)} transactions (each sealed) in"
        f" {elapsed_s:.2f} s = {posted / elapsed_s:,.0f} transfers/s | retry of one batch"
        f" {len(batches[0]) / retry_s:,.0f} exists/s | verify {report.entries_checked} entries in {verify_s:.2f} s"
        f" = {report.entries_checked / verify_s:,.0f} entries/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=100_000)
    parser.add_argument("--batch-sizes", default="1000,8000")
    parser.add_argument("--members", type=int, default=500)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as folder:
        for batch_size in (int(size) for size in args.batch_sizes.split(",")):
            bench(args.transfers, batch_size, args.members, Path(folder))


if __name__ == "__main__":
    main()
