"""Crash-test child: settles intervals START, START+1, ... back to back until it is killed with SIGKILL.

    python -m tests.edge.ledger._crash_child DB START [pause]

Each interval is one `post` of `BATCH_SIZE` transfers (one SQLite transaction), as settlement would do it.
With `pause`, the child shrinks SQLite's page cache (so uncommitted pages spill into the WAL file, as on a small
gateway under load) and, in the middle of its second interval's transaction, prints `mid-transaction` and the
WAL size and stops there, so the parent can kill it at a known point.
"""

import os
import sys
import time

from sqlalchemy import event

from edge.db import make_engine
from edge.ledger import Transfer, TransferFlags, find_account, open_account, post

BATCH_SIZE = 6_000
MEMBERS_COUNT = 50


def open_accounts(engine) -> tuple[int, list[int]]:
    mobile_money = open_account(engine, "system:mobile_money", "ngwee", may_go_negative=True)
    return mobile_money, [open_account(engine, f"member:{m}", "ngwee") for m in range(MEMBERS_COUNT)]


def find_accounts(engine) -> tuple[int, list[int]]:
    members = [find_account(engine, f"member:{m}", "ngwee") for m in range(MEMBERS_COUNT)]
    return find_account(engine, "system:mobile_money", "ngwee"), members


def settlement_batch(interval: int, mobile_money: int, members: list[int]) -> list[Transfer]:
    """Deterministic: the same interval always gives the same transfers (and keys), as a re-run would."""
    transfers = []
    for i in range(BATCH_SIZE // 2):
        payer, payee = members[i % MEMBERS_COUNT], members[(i + 1) % MEMBERS_COUNT]
        interval_id = f"interval-{interval}"
        transfers.append(
            Transfer(
                f"{interval_id}:topup:{i}",
                mobile_money,
                payer,
                100,
                "ngwee",
                interval_id,
                "topup",
                TransferFlags.LINKED,
            )
        )
        transfers.append(Transfer(f"{interval_id}:trade:{i}", payer, payee, 50 + i % 50, "ngwee", interval_id, "trade"))
    return transfers


def pause_mid_transaction(engine, wal_path: str, posted: list[int]) -> None:
    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA cache_size = 8")
        calls = 0

        def progress() -> int:
            nonlocal calls
            if len(posted) == 1 and dbapi_connection.in_transaction:
                calls += 1
                if calls == 2_000:
                    print(f"mid-transaction {os.path.getsize(wal_path)}", flush=True)
                    time.sleep(120)  # bounded; the parent kills us within a second
            return 0

        dbapi_connection.set_progress_handler(progress, 100)


def main() -> None:
    engine = make_engine(sys.argv[1])
    start = int(sys.argv[2])
    posted: list[int] = []
    if sys.argv[3:] == ["pause"]:
        pause_mid_transaction(engine, sys.argv[1] + "-wal", posted)
    mobile_money, members = find_accounts(engine)
    print("ready", flush=True)
    for interval in range(start, start + 1_000):  # bounded; the parent kills us long before the end
        post(engine, settlement_batch(interval, mobile_money, members))
        posted.append(interval)
        print(f"posted {interval} {os.path.getsize(sys.argv[1] + '-wal')}", flush=True)


if __name__ == "__main__":
    main()
