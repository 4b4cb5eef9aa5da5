"""Tampering with the database directly is detected, and `verify` names the first bad entry, seal or account."""

import sqlite3
import subprocess
import sys

import pytest
from nacl.signing import SigningKey

from edge.ledger import Transfer, TransferFlags, TransferResult, VerifyFailure, post, seal_interval, seals, verify
from edge.ledger._codec import entry_hash
from edge.ledger.commands import main
from tests.edge.ledger.conftest import ROOT_HINT, sql

V = VerifyFailure


@pytest.fixture
def sealed(cluster, gateway_key):
    """Entries 1-7 sealed as "i0", 8-11 (two trades) sealed as "i1", 12-13 not sealed yet."""
    c = cluster
    seal_interval(c.engine, "i0", gateway_key)
    assert post(c.engine, [Transfer("fund-bob", c.mobile_money, c.bob_ngwee, 5_000, "ngwee", "i1", "topup")]) == [
        TransferResult.OK
    ]
    trades = []
    for n, wh in enumerate((100, 50)):
        trades += [
            Transfer(
                f"t{n}:money", c.bob_ngwee, c.alice_ngwee, wh * 120 // 100, "ngwee", "i1", "trade", TransferFlags.LINKED
            ),
            Transfer(f"t{n}:energy", c.alice_wh, c.bob_wh, wh, "wh", "i1", "trade"),
        ]
    assert post(c.engine, trades[:3]) == [TransferResult.OK] * 2 + [TransferResult.LINKED_EVENT_CHAIN_OPEN]
    assert post(c.engine, trades[2:]) == [TransferResult.OK] * 2
    seal_interval(c.engine, "i1", gateway_key)
    assert (
        post(
            c.engine,
            [
                Transfer("fund-bob-2", c.mobile_money, c.bob_ngwee, 10, "ngwee", "i2", "topup"),
                Transfer("alloc-bob", c.generation, c.bob_wh, 10, "wh", "i2", "allocation"),
            ],
        )
        == [TransferResult.OK] * 2
    )
    assert [(s.interval_id, s.entries_count) for s in seals(c.engine)] == [("i0", 7), ("i1", 12)]
    return c


def failing(engine, verify_key=None):
    report = verify(engine, verify_key)
    assert not report.ok
    return report


def rehash_from(path, seq_first: int) -> None:
    """What a forger with the code would do after editing a row: recompute every hash from `seq_first` on."""
    connection = sqlite3.connect(path)
    try:
        columns = (
            "seq, key, debit_account_id, credit_account_id, amount, unit, interval_id, kind, flags,"
            " pending_key, timestamp_us"
        )
        prev = connection.execute("SELECT entry_hash FROM ledger_transfer WHERE seq = ?", (seq_first - 1,))
        prev_hash = (prev.fetchone() or [bytes(32)])[0]
        rows = connection.execute(
            f"SELECT {columns} FROM ledger_transfer WHERE seq >= ? ORDER BY seq", (seq_first,)
        ).fetchall()
        for row in rows:
            digest = entry_hash(prev_hash, *row)
            connection.execute(
                "UPDATE ledger_transfer SET prev_hash = ?, entry_hash = ? WHERE seq = ?", (prev_hash, digest, row[0])
            )
            prev_hash = digest
        connection.commit()
    finally:
        connection.close()


def test_untouched_ledger_verifies(sealed, gateway_key):
    report = verify(sealed.engine, gateway_key.verify_key)
    assert report.ok, report.line()
    assert (report.entries_checked, report.seals_checked, report.accounts_checked) == (14, 2, 6)
    assert verify(sealed.engine).ok


def test_empty_ledger_verifies(engine):
    assert verify(engine).ok


def test_edited_amount_is_named(sealed, gateway_key):
    sql(sealed.path, "UPDATE ledger_transfer SET amount = amount + 1 WHERE seq = 5")
    report = failing(sealed.engine, gateway_key.verify_key)
    assert (report.failure, report.entry_seq, report.entry_key) == (
        V.ENTRY_HASH_MUST_MATCH_CONTENTS,
        5,
        "post-p-posted",
    )
    assert "entry 5" in report.line()


def test_deleted_row_is_named(sealed):
    sql(sealed.path, "DELETE FROM ledger_transfer WHERE seq = 4")
    report = failing(sealed.engine)
    assert (report.failure, report.entry_seq) == (V.SEQUENCE_MUST_BE_CONTIGUOUS, 4)


def test_swapped_rows_are_named(sealed):
    sql(sealed.path, "UPDATE ledger_transfer SET seq = -1 WHERE seq = 9")
    sql(sealed.path, "UPDATE ledger_transfer SET seq = 9 WHERE seq = 10")
    sql(sealed.path, "UPDATE ledger_transfer SET seq = 10 WHERE seq = -1")
    report = failing(sealed.engine)
    assert (report.failure, report.entry_seq) == (V.PREV_HASH_MUST_LINK_TO_PREVIOUS_ENTRY, 9)


def test_swapped_contents_with_rehashed_chain_is_caught_by_the_seal(sealed):
    columns = "key, debit_account_id, credit_account_id, amount, unit, interval_id, kind, flags, pending_key"
    connection = sqlite3.connect(sealed.path)
    row_a = connection.execute(f"SELECT {columns} FROM ledger_transfer WHERE seq = 1").fetchone()
    row_b = connection.execute(f"SELECT {columns} FROM ledger_transfer WHERE seq = 2").fetchone()
    assignments = ", ".join(f"{name.strip()} = ?" for name in columns.split(","))
    connection.execute("UPDATE ledger_transfer SET key = 'swap' WHERE seq = 1")
    connection.execute(f"UPDATE ledger_transfer SET {assignments} WHERE seq = 2", row_a)
    connection.execute(f"UPDATE ledger_transfer SET {assignments} WHERE seq = 1", row_b)
    connection.commit()
    connection.close()
    rehash_from(sealed.path, 1)
    report = failing(sealed.engine)
    assert (report.failure, report.seal_id) == (V.SEAL_HEAD_MUST_MATCH_CHAIN, 1)


def test_rewritten_and_rehashed_history_is_caught_by_the_seal(sealed):
    sql(sealed.path, "UPDATE ledger_transfer SET amount = 20000 WHERE seq = 1")
    sql(
        sealed.path,
        "UPDATE ledger_balance SET credits_posted = credits_posted + 10000 WHERE account_id = ?",
        (sealed.alice_ngwee,),
    )
    rehash_from(sealed.path, 1)
    report = failing(sealed.engine)
    assert (report.failure, report.seal_id) == (V.SEAL_HEAD_MUST_MATCH_CHAIN, 1)


def test_rehashed_entry_breaking_the_rules_is_named(cluster):
    # No seals yet: only the replay of the rules can catch a consistent re-hash. Alice pays more than she has.
    sql(cluster.path, "UPDATE ledger_transfer SET amount = 10001 WHERE seq = 3")
    rehash_from(cluster.path, 3)
    report = failing(cluster.engine)
    assert (report.failure, report.entry_seq, report.entry_key) == (V.ENTRY_MUST_FOLLOW_LEDGER_RULES, 3, "p-open")
    assert "insufficient_funds" in report.detail


def test_forged_signature_is_named(sealed, gateway_key):
    sql(sealed.path, "UPDATE ledger_seal SET signature = ? WHERE seal_id = 2", (bytes(64),))
    report = failing(sealed.engine, gateway_key.verify_key)
    assert (report.failure, report.seal_id) == (V.SEAL_SIGNATURE_MUST_VERIFY, 2)


def test_forged_head_is_named(sealed):
    sql(sealed.path, "UPDATE ledger_seal SET head_hash = ? WHERE seal_id = 1", (bytes(32),))
    report = failing(sealed.engine)
    assert (report.failure, report.seal_id) == (V.SEAL_HEAD_MUST_MATCH_CHAIN, 1)


def test_head_resigned_by_another_key_fails_only_against_the_pinned_key(sealed, gateway_key):
    forger = SigningKey(bytes(32))
    [first, _] = seals(sealed.engine)
    from dataclasses import replace

    forged = replace(first, public_key=bytes(forger.verify_key))
    signature = forger.sign(forged.message()).signature
    sql(
        sealed.path,
        "UPDATE ledger_seal SET public_key = ?, signature = ? WHERE seal_id = 1",
        (forged.public_key, signature),
    )
    # The next seal links to the forged one by digest, so re-link it too, as the forger must.
    assert verify(sealed.engine).failure is V.SEAL_MUST_LINK_TO_PREVIOUS_SEAL
    report = failing(sealed.engine, gateway_key.verify_key)
    assert (report.failure, report.seal_id) == (V.SEAL_KEY_MUST_BE_GATEWAY_KEY, 1)


def test_deleted_seal_is_named(sealed):
    seal_interval(sealed.engine, "i2", SigningKey(bytes(range(32))))
    sql(sealed.path, "DELETE FROM ledger_seal WHERE seal_id = 2")
    report = failing(sealed.engine)
    assert (report.failure, report.seal_id) == (V.SEAL_IDS_MUST_BE_CONTIGUOUS, 3)


def test_edited_cached_balance_is_named(sealed):
    sql(
        sealed.path,
        "UPDATE ledger_balance SET credits_posted = credits_posted + 1 WHERE account_id = ?",
        (sealed.bob_wh,),
    )
    report = failing(sealed.engine)
    assert (report.failure, report.account_id) == (V.CACHED_BALANCE_MUST_MATCH_JOURNAL, sealed.bob_wh)


def test_changed_account_flag_is_caught_by_the_seal(sealed):
    sql(sealed.path, "UPDATE ledger_account SET may_go_negative = 1 WHERE id = ?", (sealed.alice_ngwee,))
    report = failing(sealed.engine)
    assert (report.failure, report.seal_id) == (V.SEAL_ACCOUNTS_MUST_MATCH, 1)


def test_deleted_sealed_tail_is_named(sealed):
    sql(sealed.path, "DELETE FROM ledger_transfer WHERE seq >= 12")
    report = failing(sealed.engine)
    assert (report.failure, report.seal_id) == (V.SEAL_MUST_POINT_INTO_CHAIN, 2)


def test_deleted_unsealed_tail_shows_in_the_cached_balances(sealed):
    sql(sealed.path, "DELETE FROM ledger_transfer WHERE seq = 14")
    report = failing(sealed.engine)
    assert report.failure is V.CACHED_BALANCE_MUST_MATCH_JOURNAL


def test_seal_is_idempotent(sealed, gateway_key):
    before = seals(sealed.engine)
    assert seal_interval(sealed.engine, "i1", gateway_key) == before[1]
    assert seals(sealed.engine) == before


# The command line


def write_seed(folder, key: SigningKey):
    folder.mkdir(exist_ok=True)
    path = folder / "gateway.key"
    path.write_text(bytes(key).hex() + "\n")
    return path


def test_cli_verify_exit_codes(sealed, gateway_key, tmp_path, capsys):
    key_file = write_seed(tmp_path, gateway_key)
    assert main(["verify", "--db", str(sealed.path), "--gateway-key", str(key_file)]) == 0
    assert "ledger ok: 14 entries, 2 seals" in capsys.readouterr().out
    public = bytes(gateway_key.verify_key).hex()
    assert main(["verify", "--db", str(sealed.path), "--gateway-public-key", public]) == 0
    other = write_seed(tmp_path / "forger", SigningKey(bytes(32)))
    assert main(["verify", "--db", str(sealed.path), "--gateway-key", str(other)]) == 1
    assert "seal_key_must_be_gateway_key" in capsys.readouterr().out
    sql(sealed.path, "UPDATE ledger_transfer SET amount = amount + 1 WHERE seq = 8")
    assert main(["verify", "--db", str(sealed.path)]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ledger FAILED at entry 8 (key 'fund-bob'): entry_hash_must_match_contents")


def test_cli_cannot_run(tmp_path, capsys, sealed):
    missing = tmp_path / "missing.db"
    assert main(["verify", "--db", str(missing)]) == 2
    assert not missing.exists()
    bad_key = tmp_path / "bad.key"
    bad_key.write_text("not a key")
    assert main(["verify", "--db", str(sealed.path), "--gateway-key", str(bad_key)]) == 2
    other = tmp_path / "other.db"
    sqlite3.connect(other).close()
    assert main(["verify", "--db", str(other)]) == 2
    assert "not a ledger database" in capsys.readouterr().err


def test_cli_balances(sealed, capsys):
    assert main(["balances", "--db", str(sealed.path)]) == 0
    out = capsys.readouterr().out
    assert "member:alice" in out
    assert "system:mobile_money" in out


def test_cli_through_python_dash_m(sealed):
    ok = subprocess.run(
        [sys.executable, "-m", "edge.ledger", "verify", "--db", str(sealed.path)],
        capture_output=True,
        text=True,
        cwd=ROOT_HINT,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    sql(sealed.path, "DELETE FROM ledger_transfer WHERE seq = 3")
    bad = subprocess.run(
        [sys.executable, "-m", "edge.ledger", "verify", "--db", str(sealed.path)],
        capture_output=True,
        text=True,
        cwd=ROOT_HINT,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "entry 3" in bad.stdout
