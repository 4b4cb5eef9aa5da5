"""kill -9 during settlement: the journal holds all of the interval or none of it, and settling again completes it
with exactly the balances an uninterrupted settlement gives."""

import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.db import make_engine
from edge.ledger import balances, verify
from edge.settlement import settle_interval
from tools.bench_settlement import INTERVAL, KEY, build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "cluster.db"
    build(path, members_count=1_500, orders_count=300, seed=7)
    return path


def state(path: Path) -> tuple[int, bool, dict]:
    engine = make_engine(path)
    try:
        with engine.connect() as connection:
            entries = connection.exec_driver_sql("SELECT COUNT(*) FROM ledger_transfer").scalar_one()
            settled = connection.exec_driver_sql("SELECT COUNT(*) FROM settlement").scalar_one() == 1
        report = verify(engine, KEY.verify_key)
        assert report.ok, report.line()
        return entries, settled, {(a.owner, a.unit): (a.balance, a.debits_pending) for a in balances(engine)}
    finally:
        engine.dispose()


def settle_in_process(path: Path):
    engine = make_engine(path)
    try:
        return settle_interval(engine, INTERVAL, KEY, now_s=INTERVAL.end_s + 60)
    finally:
        engine.dispose()


def start_child(path: Path, *extra: str) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-m", "tests.edge._settlement_crash_child", str(path), *extra],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert child.stdout.readline().strip() == "ready"
    return child


def kill_9(child: subprocess.Popen) -> None:
    child.kill()  # SIGKILL: no cleanup, no rollback
    child.wait(timeout=30)
    child.stdout.close()


@pytest.fixture(scope="module")
def reference(source, tmp_path_factory):
    """The uninterrupted result, to compare every recovered database with."""
    path = tmp_path_factory.mktemp("reference") / "cluster.db"
    shutil.copyfile(source, path)
    before, settled, _ = state(path)
    assert not settled
    result = settle_in_process(path)
    entries, settled, books = state(path)
    assert settled and entries - before == result.transfers_count > 1_000
    return before, entries, books


def check_all_or_nothing_then_complete(path: Path, reference) -> bool:
    before, complete, books = reference
    entries, settled, _ = state(path)
    assert entries in (before, complete), f"{entries - before} of {complete - before} entries: a partial interval"
    assert settled == (entries == complete), "the settlement record commits with the journal"
    again = settle_in_process(path)
    assert again.settled_now == (not settled)
    assert state(path) == (complete, True, books)
    return settled


@pytest.mark.parametrize("steps", [1, 300])
def test_kill_9_inside_the_settlement_transaction_leaves_nothing(source, reference, tmp_path, steps):
    path = tmp_path / "cluster.db"
    shutil.copyfile(source, path)
    child = start_child(path, str(steps))
    try:
        assert child.stdout.readline().strip() == "paused"
    finally:
        kill_9(child)
    assert not check_all_or_nothing_then_complete(path, reference)


def test_kill_9_at_arbitrary_moments(source, reference, tmp_path):
    generator = random.Random(2026)
    outcomes = set()
    for trial in range(4):
        path = tmp_path / f"cluster-{trial}.db"
        shutil.copyfile(source, path)
        child = start_child(path)
        time.sleep(generator.uniform(0.0, 0.4))
        kill_9(child)
        outcomes.add(check_all_or_nothing_then_complete(path, reference))
    assert outcomes  # whichever way each trial fell, each one was whole or absent, and completed
