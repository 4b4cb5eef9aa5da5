"""`make run` as a newcomer sees it: meters come alive, the gateway stores their readings and refuses attacks."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_a_cluster_whose_meters_report_and_whose_gateway_refuses_attacks(tmp_path):
    command = [sys.executable, "-m", "tools.demo", "--meters", "2", "--seconds", "6", "--dir", str(tmp_path / "run")]
    result = subprocess.run(command, cwd=ROOT,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    assert "2 virtual meters running" in output
    assert re.search(r"the same bytes replayed\s+2\.04", output)
    assert re.search(r"energy edited to 9999 Wh\s+4\.01 Unauthorized", output)
    assert re.search(r"seq 1 reused with new content\s+4\.09 Conflict", output)
    assert "the lab meter: 1 reading stored, energy 1000 Wh" in output
    last_table = output.rsplit("meter      readings", 1)[1]
    for meter_id in ("mwansa", "chilufya"):
        readings = int(re.search(rf"{meter_id}\s+(\d+)", last_table).group(1))
        assert readings >= 2, output
    assert "stopped (exit" not in output
