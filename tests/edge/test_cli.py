"""`enerlectra-edge meter ...` as an operator uses it: the console script, real exit codes."""

import json
import subprocess
import sys
from pathlib import Path

from nacl.signing import SigningKey

SCRIPT = str(Path(sys.executable).with_name("enerlectra-edge"))


def edge(*args):
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=60)


def test_meter_add_then_show(tmp_path):
    db = str(tmp_path / "g.db")
    key = bytes(SigningKey.generate().verify_key).hex()
    added = edge("meter", "add", "--db", db, "--meter-id", "m1", "--kid", "0A0B", "--public-key", key,
                 "--phone", "+260971234567")
    assert added.returncode == 0, added.stderr
    shown = json.loads(edge("meter", "show", "--db", db, "--meter-id", "m1").stdout)
    assert (shown["kid"], shown["last_seq"], shown["readings"]) == ("0a0b", -1, 0)


def test_meter_add_with_bad_phone_exits_2_with_one_line_and_adds_nothing(tmp_path):
    db = str(tmp_path / "g.db")
    key = bytes(SigningKey.generate().verify_key).hex()
    failed = edge("meter", "add", "--db", db, "--meter-id", "m1", "--kid", "01", "--public-key", key,
                  "--phone", "0971")
    assert failed.returncode == 2
    assert failed.stderr.strip().count("\n") == 0 and "+260" in failed.stderr
    assert edge("meter", "list", "--db", db).stdout == ""
    assert edge("meter", "show", "--db", db, "--meter-id", "m1").returncode == 2
