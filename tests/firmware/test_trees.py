"""meter.trees against emlearn's compiled C: the same predictions on every input of a test set.

How equality is checked. The C model (`emlearn.convert(model, method="loadable")`) is compiled by emlearn and
prints each prediction with printf("%f"); emlearn parses that text back. The MicroPython evaluator computes in
float32 like the C and prints the exact float32 bits, which this test formats with "%f" the same way. Two
float32 values with the same "%f" text are the same value here (the outputs are above 1e-2, where adjacent
float32 values differ by more than 1e-6), so the comparison is exact, not a tolerance. The shipped model is
compared bit for bit with its committed C header, compiled here with a harness that prints the bits.
"""

import contextlib
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tools import forecast_model, loadprofiles

SHIPPED_MODEL = ROOT / "firmware" / "models" / "depletion.csv"
SHIPPED_HEADER = ROOT / "hardware" / "native" / "depletion_model.h"
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="emlearn's C needs a C compiler")

# Reads `model.csv`, predicts every row of `inputs.txt` (space-separated ints), prints the results.
EVALUATE = """
import struct
from array import array
from meter import trees
model = trees.load("model.csv")
features = array("h", bytes(2 * model.n_features))
proba = array("f", bytes(4 * max(1, model.n_classes)))
with open("inputs.txt") as stream:
    for line in stream:
        values = line.split()
        for index in range(len(values)):
            features[index] = int(values[index])
        value = model.predict(features)
        if model.n_classes:
            model.predict_proba(features, proba)
            print(value, " ".join(struct.pack("<f", p).hex() for p in proba))
        else:
            print(struct.pack("<f", value).hex())
"""


def depletion_features(households: int, seed: int, stride: int = 7) -> np.ndarray:
    """The meter's real feature rows for some generated households."""
    rows = []
    for household in loadprofiles.generate(households, 60, seed=seed):
        starts = np.arange(forecast_model.HISTORY_H, len(household.wh) - 24, stride)
        X, total = forecast_model.features(household.wh, forecast_model.first_hour_number(household), starts)
        rows.append(X[np.repeat(total > 0, 24)])
    return np.concatenate(rows)


def run_evaluator(micropython, csv_text: str, X: np.ndarray) -> list[str]:
    (micropython.workdir / "model.csv").write_text(csv_text)
    np.savetxt(micropython.workdir / "inputs.txt", X, fmt="%d")
    return micropython.run(EVALUATE).stdout.split("\n")[: len(X)]


def float32(hex_bits: str) -> float:
    return struct.unpack("<f", bytes.fromhex(hex_bits))[0]


def emlearn_c(converted, X: np.ndarray, folder: Path, proba: bool = False):
    """Predictions of emlearn's compiled C (built and run in ./tmp, hence the chdir)."""
    with contextlib.chdir(folder):
        return converted.predict_proba(X) if proba else converted.predict(X)


@pytest.fixture(scope="module")
def depletion_data():
    X = depletion_features(6, seed=101)
    y = X[:, 3] * (1 + 0.2 * np.sin(X[:, 0])) + X[:, 6] * 0.1  # any regression target will do
    return X, y, depletion_features(2, seed=202, stride=11)


def regressor(kind: str):
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.tree import DecisionTreeRegressor

    return {
        "tree": DecisionTreeRegressor(max_depth=7, min_samples_leaf=20),
        "forest": RandomForestRegressor(n_estimators=4, max_depth=6, random_state=1),
        "extra": ExtraTreesRegressor(n_estimators=5, max_depth=5, random_state=1),
    }[kind]


@needs_cc
@pytest.mark.parametrize("kind", ["tree", "forest", "extra"])
def test_regression_equals_emlearn_c_on_every_input(micropython, tmp_path, depletion_data, kind):
    import emlearn

    X, y, X_test = depletion_data
    model = regressor(kind).fit(X, y)  # the raw emlearn export, without the tool's threshold alignment
    converted = emlearn.convert(model, method="loadable")
    c_values = emlearn_c(converted, X_test, tmp_path)

    lines = run_evaluator(micropython, converted.save(name="m", format="csv"), X_test)

    assert len(lines) == len(X_test) > 300
    meter_values = [float(f"{float32(line):f}") for line in lines]
    assert meter_values == list(c_values)


@needs_cc
@pytest.mark.parametrize("leaf_bits", [0, 8])
def test_classification_equals_emlearn_c_on_every_input(micropython, tmp_path, leaf_bits):
    import emlearn
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(5)
    X = rng.integers(-500, 500, (600, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 100) + (X[:, 2] + rng.normal(0, 150, 600) > 0)
    X_test = rng.integers(-600, 600, (300, 4))
    model = RandomForestClassifier(n_estimators=5, max_depth=5, random_state=2).fit(X, y)
    converted = emlearn.convert(model, method="loadable", leaf_bits=leaf_bits)
    c_classes = emlearn_c(converted, X_test, tmp_path)
    c_proba = emlearn_c(converted, X_test, tmp_path, proba=True)

    lines = run_evaluator(micropython, converted.save(name="m", format="csv"), X_test)

    meter_classes = [int(line.split()[0]) for line in lines]
    meter_proba = [[float(f"{float32(bits):f}") for bits in line.split()[1:]] for line in lines]
    assert meter_classes == list(c_classes)
    assert meter_proba == c_proba.tolist()
    assert len(set(meter_classes)) == 4


def harness(header: Path, folder: Path) -> Path:
    """A native build of the committed header: reads feature rows, prints the float32 bits."""
    import emlearn

    source = folder / "harness.c"
    source.write_text(
        f'#include <stdio.h>\n#include <string.h>\n#include "{header}"\n'
        "int main(void) {\n"
        "  int16_t f[8]; int v[8];\n"
        '  while (scanf("%d %d %d %d %d %d %d %d", v, v+1, v+2, v+3, v+4, v+5, v+6, v+7) == 8) {\n'
        "    for (int i = 0; i < 8; i++) f[i] = (int16_t)v[i];\n"
        "    float out = depletion_model_predict(f, 8); unsigned char b[4]; memcpy(b, &out, 4);\n"
        '    printf("%02x%02x%02x%02x\\n", b[0], b[1], b[2], b[3]);\n'
        "  }\n  return 0;\n}\n"
    )
    binary = folder / "harness"
    subprocess.run(
        ["cc", "-std=c99", "-O2", "-I", emlearn.includedir, str(source), "-o", str(binary), "-lm"],
        check=True,
        capture_output=True,
    )
    return binary


@needs_cc
def test_shipped_model_equals_its_committed_c_header_bit_for_bit(micropython, tmp_path):
    X_test = depletion_features(3, seed=303, stride=5)
    binary = harness(SHIPPED_HEADER, tmp_path)
    rows = "\n".join(" ".join(str(v) for v in row) for row in X_test.tolist())
    c_bits = subprocess.run([binary], input=rows, capture_output=True, text=True, check=True).stdout.split()

    meter_bits = run_evaluator(micropython, SHIPPED_MODEL.read_text(), X_test)

    assert len(c_bits) == len(X_test) > 500
    assert meter_bits == c_bits


def test_shipped_model_fits_the_budget():
    assert SHIPPED_MODEL.stat().st_size <= 8 * 1024


def test_cpython_and_micropython_evaluators_agree(micropython):
    # The tools evaluate models with the same module under CPython: same floats as on the unix port.
    from firmware.meter import trees

    X_test = depletion_features(1, seed=404, stride=13)
    model = trees.load(str(SHIPPED_MODEL))
    cpython_bits = [struct.pack("<f", model.predict(row)).hex() for row in X_test.tolist()]
    assert run_evaluator(micropython, SHIPPED_MODEL.read_text(), X_test) == cpython_bits


REGRESSOR = "f,2\r\nc,0\r\nlb,32\r\nl,1.5\r\nl,2.5\r\nr,0\r\nn,1,10.0,-1,-2"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (REGRESSOR.replace("f,2\r\n", ""), "lacks"),
        (REGRESSOR.replace("lb,32", "lb,8"), "32-bit"),
        (REGRESSOR.replace("c,0\r\nlb,32", "c,2\r\nlb,32"), "leaf_bits"),
        (REGRESSOR.replace("n,1,", "n,2,"), "unknown feature"),
        (REGRESSOR.replace("10.0", "40000.0"), "int16"),
        (REGRESSOR.replace("-1,-2", "-1,-3"), "missing leaf"),
        (REGRESSOR.replace("-1,-2", "-1,0"), "missing node"),
        (REGRESSOR.replace("-1,-2", "-1,1"), "missing node"),
        (REGRESSOR.replace("r,0", "r,1"), "missing node"),
        (REGRESSOR.replace("n,1,10.0,-1,-2", "n,1,10.0,-1"), "bad node"),
        ("f,2\r\nc,0\r\nlb,32", "no trees"),
        ("f,2\r\nc,2\r\nlb,0\r\nl,0\r\nl,2\r\nr,0\r\nn,1,10.0,-1,-2", "missing class"),
        ("f,2\r\nc,2\r\nlb,8\r\nl,[ 0 255]\r\nl,[255]\r\nr,0\r\nn,1,10.0,-1,-2", "bad leaf"),
    ],
)
def test_malformed_model_files_raise_value_error(micropython, text, error):
    (micropython.workdir / "bad.csv").write_text(text)
    result = micropython.run(
        "from meter import trees\ntry:\n    trees.load('bad.csv')\nexcept ValueError as e:\n    print('ValueError', e)"
    )
    assert result.stdout.startswith("ValueError") and error in result.stdout


def test_a_valid_file_loads_and_checks_the_feature_count(micropython):
    (micropython.workdir / "good.csv").write_text(REGRESSOR)
    result = micropython.run(
        "from meter import trees\nm = trees.load('good.csv')\nprint(m.predict([0, 9]), m.predict([0, 10]))\n"
        "try:\n    m.predict([1])\nexcept ValueError as e:\n    print('ValueError', e)"
    )
    assert result.stdout.split("\n")[:2] == ["1.5 2.5", "ValueError expected 2 features"]
