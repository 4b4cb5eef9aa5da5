"""kill -9 in the middle of settlement: each interval is in the journal completely or not at all."""

import subprocess
import sys
import time

from edge.db import create_schema, make_engine
from edge.ledger import TransferResult, post, verify
from tests.edge.ledger._crash_child import BATCH_SIZE, open_accounts, settlement_batch
from tests.edge.ledger.conftest import ROOT_HINT


def interval_counts(engine) -> dict[int, int]:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT interval_id, COUNT(*) FROM ledger_transfer GROUP BY interval_id"
        ).fetchall()
    return {int(interval_id.removeprefix("interval-")): count for interval_id, count in rows}


def start_child(path, start: int, *extra: str) -> subprocess.Popen:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.edge.ledger._crash_child", str(path), str(start), *extra],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT_HINT,
    )
    assert child.stdout.readline().strip() == "ready"
    return child


def kill_9(child: subprocess.Popen) -> None:
    child.kill()  # SIGKILL: no cleanup, no rollback, the WAL is left as it was
    child.wait(timeout=30)
    child.stdout.close()
    assert child.returncode == -9


def check_all_or_nothing_and_resettle(path, mobile_money, members) -> int:
    """After a crash: whole intervals only, in order, verify passes; re-running settlement is safe. Returns the
    number of intervals now complete."""
    engine = make_engine(path)
    try:
        counts = interval_counts(engine)
        assert all(count == BATCH_SIZE for count in counts.values()), counts
        assert sorted(counts) == list(range(len(counts))), "intervals are settled in order, none skipped"
        report = verify(engine)
        assert report.ok, report.line()

        cut_off = len(counts)
        if cut_off > 0:  # settlement re-runs a completed interval: nothing changes
            assert set(post(engine, settlement_batch(cut_off - 1, mobile_money, members))) == {TransferResult.EXISTS}
        assert set(post(engine, settlement_batch(cut_off, mobile_money, members))) == {TransferResult.OK}
        assert set(post(engine, settlement_batch(cut_off, mobile_money, members))) == {TransferResult.EXISTS}
        assert interval_counts(engine)[cut_off] == BATCH_SIZE
        assert verify(engine).ok
        return cut_off + 1
    finally:
        engine.dispose()


def test_kill_9_during_settlement_leaves_all_or_nothing(tmp_path):
    path = tmp_path / "crash.db"
    engine = make_engine(path)
    create_schema(engine)
    mobile_money, members = open_accounts(engine)
    engine.dispose()

    # 1. A known point: the child stops inside its second interval's transaction, after uncommitted pages have
    #    spilled into the WAL file (it grew since the first commit), and is killed there.
    child = start_child(path, 0, "pause")
    try:
        posted_line = child.stdout.readline().split()
        paused_line = child.stdout.readline().split()
    finally:
        kill_9(child)
    assert posted_line[:2] == ["posted", "0"]
    assert paused_line[0] == "mid-transaction"
    assert int(paused_line[1]) > int(posted_line[2]), "uncommitted pages must have reached the WAL file"
    start = check_all_or_nothing_and_resettle(path, mobile_money, members)
    assert start == 2

    # 2. Arbitrary points: intervals are posted back to back, so most instants fall inside a transaction.
    for delay_s in (0.1, 0.5):
        child = start_child(path, start)
        try:
            time.sleep(delay_s)
        finally:
            kill_9(child)
        start = check_all_or_nothing_and_resettle(path, mobile_money, members)
