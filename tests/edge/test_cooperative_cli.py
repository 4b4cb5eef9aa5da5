"""`enerlectra-edge member|cluster|wallet|settle|price` as an operator uses them."""

import json
import subprocess
import sys
from pathlib import Path

from edge.cli import main
from edge.intervals import Interval, parse_interval_id

SCRIPT = str(Path(sys.executable).with_name("enerlectra-edge"))


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_members_assets_wallets_and_price(tmp_path, capsys):
    db = str(tmp_path / "g.db")
    code, out, _ = run(capsys, "member", "add", "--db", db, "--phone", "0971234567", "--name", "Chanda")
    assert code == 0 and json.loads(out)["phone"] == "+260971234567"
    code, out, err = run(capsys, "member", "add", "--db", db, "--phone", "12345")
    assert (code, out) == (2, "") and err.count("\n") == 1 and "+260" in err
    code, out, err = run(capsys, "member", "add", "--db", db, "--phone", "0971234567")
    assert code == 2 and "already exists" in err
    code, out, _ = run(capsys, "wallet", "deposit", "--db", db, "--member-id", "1", "--amount-ngwee", "300000")
    assert json.loads(out)["state"] == "succeeded"
    code, out, _ = run(capsys, "member", "contribute", "--db", db, "--member-id", "1", "--amount-ngwee", "250000")
    assert code == 0 and json.loads(out)["amount_ngwee"] == 250_000
    code, _, err = run(capsys, "member", "contribute", "--db", db, "--member-id", "1", "--amount-ngwee", "250000")
    assert code == 2 and "not enough" in err
    code, out, _ = run(capsys, "cluster", "add-asset", "--db", db, "--name", "Array", "--kind", "solar_array",
                       "--cost-ngwee", "2500000", "--rated-power-w", "3000")
    assert code == 0 and json.loads(out)["rated_power_w"] == 3_000
    code, _, err = run(capsys, "member", "link-meter", "--db", db, "--meter-id", "ghost", "--role", "producer")
    assert code == 2 and "no registered meter" in err
    code, out, _ = run(capsys, "member", "list", "--db", db)
    assert [json.loads(line)["share_ngwee"] for line in out.splitlines()] == [250_000]
    code, out, _ = run(capsys, "wallet", "balances", "--db", db)
    assert "+260971234567" in out and "500.00" in out
    code, out, _ = run(capsys, "wallet", "show", "--db", db, "--member-id", "1")
    assert json.loads(out)["ngwee"]["balance"] == 50_000
    code, _, err = run(capsys, "wallet", "show", "--db", db, "--member-id", "7")
    assert code == 2 and "no member 7" in err
    code, out, _ = run(capsys, "price", "--db", db)
    assert out.startswith("1.20 ZMW/kWh (reference tariff")


def test_settle_is_one_line_and_a_rerun_changes_nothing(tmp_path):
    db = tmp_path / "g.db"

    def edge(*args):
        return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)

    first = edge("settle", "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("\n") == 1 and " settled: price " in first.stdout
    assert (tmp_path / "g.key").exists()  # created like `serve` does
    again = edge("settle", "--db", str(db))
    assert again.stdout.startswith("nothing to settle")
    interval_id = first.stdout.split()[0]
    same = edge("settle", "--db", str(db), "--interval", interval_id)
    assert " already settled: " in same.stdout
    bad = edge("settle", "--db", str(db), "--interval", "2026-13-40T10:00Z")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    before = Interval(parse_interval_id(interval_id).index - 1).interval_id
    older = edge("settle", "--db", str(db), "--interval", before)
    assert older.returncode == 2 and "older than the last settled" in older.stderr
    verified = edge("ledger", "verify", "--db", str(db), "--gateway-key", str(tmp_path / "g.key"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
