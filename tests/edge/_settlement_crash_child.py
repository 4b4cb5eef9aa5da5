"""Crash-test child: settles the benchmark interval of the database DB, unless killed first.

    python -m tests.edge._settlement_crash_child DB [PAUSE_AFTER]

Prints `ready` before it starts and `settled <transfers>` when done. With PAUSE_AFTER, SQLite's progress handler
counts virtual-machine steps inside the settlement's write transaction and, after PAUSE_AFTER × 1,000 of them,
prints `paused` and sleeps, so the parent kills it at a known point inside the transaction.
"""

import sys
import time

from sqlalchemy import event

from edge.db import make_engine
from edge.settlement import settle_interval
from tools.bench_settlement import INTERVAL, KEY


def pause_inside_transaction(engine, steps: int) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        calls = 0

        def progress() -> int:
            nonlocal calls
            if dbapi_connection.in_transaction:
                calls += 1
                if calls == steps:
                    print("paused", flush=True)
                    time.sleep(60)  # bounded; the parent kills us within a second
            return 0

        dbapi_connection.set_progress_handler(progress, 1_000)


def main() -> None:
    engine = make_engine(sys.argv[1])
    if len(sys.argv) > 2:
        pause_inside_transaction(engine, int(sys.argv[2]))
    print("ready", flush=True)
    result = settle_interval(engine, INTERVAL, KEY, now_s=INTERVAL.end_s + 60)
    print(f"settled {result.transfers_count}", flush=True)


if __name__ == "__main__":
    main()
