"""tools.loadprofiles and tools.forecast_model: the data, the export, and the train/deploy command."""

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from firmware.meter import forecast, trees
from tools import forecast_model, loadprofiles


def test_households_are_seeded_and_independent_of_how_many_are_made():
    few = loadprofiles.generate(2, 14, seed=3)
    many = loadprofiles.generate(5, 14, seed=3)
    assert [h.wh.tolist() for h in few] == [h.wh.tolist() for h in many[:2]]
    assert loadprofiles.generate(1, 14, seed=4)[0].wh.tolist() != few[0].wh.tolist()
    assert many[3].wh.tolist() == loadprofiles.generate(1, 14, seed=3, first_index=3)[0].wh.tolist()


def test_profiles_are_integer_wh_and_hourly_sums_the_quarter_hours():
    quarter = loadprofiles.generate(1, 10, seed=8, resolution_min=15)[0]
    hourly = loadprofiles.generate(1, 10, seed=8)[0]
    assert quarter.wh.dtype == np.int32 and len(quarter.wh) == 10 * 96 and quarter.wh.min() >= 0
    assert hourly.wh.tolist() == quarter.wh.reshape(-1, 4).sum(axis=1).tolist()


def test_profiles_have_an_evening_peak_and_load_shedding_darkness():
    households = loadprofiles.generate(8, 60, seed=9, start=loadprofiles.dt.date(2024, 9, 1), shedding="severe")
    days = np.concatenate([h.wh.reshape(-1, 24) for h in households])
    assert days[:, 18:21].mean() > 3 * days[:, 1:4].mean()
    unshed = loadprofiles.generate(8, 60, seed=9, start=loadprofiles.dt.date(2024, 9, 1), shedding="none")
    zero_hours = sum(int((h.wh == 0).sum()) for h in households)
    assert zero_hours > 5 * sum(int((h.wh == 0).sum()) for h in unshed)


def test_export_decides_like_scikit_learn_on_integer_features():
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(1)
    X = rng.integers(0, 30, (2000, forecast.FEATURES))
    y = np.where(X[:, 0] <= 12, 10.0, 90.0) + X[:, 3]
    model = DecisionTreeRegressor(max_depth=6).fit(X, y)
    text = forecast_model.emlearn_csv(model)

    X_test = rng.integers(0, 30, (500, forecast.FEATURES))
    expected = forecast_model.rounded(model).predict(X_test)
    meter = _load_text(text)
    assert np.allclose([meter.predict(row) for row in X_test.tolist()], expected, rtol=1e-6)


def _load_text(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.csv"
        path.write_text(text)
        return trees.load(str(path))


def test_fast_evaluation_equals_the_meter_code():
    from sklearn.tree import DecisionTreeRegressor

    households = loadprofiles.generate(3, 40, seed=12)
    X, y = forecast_model.training_set(households, 5, np.random.default_rng(0))
    model = DecisionTreeRegressor(max_depth=5, min_samples_leaf=20).fit(X, y)
    points = forecast_model.evaluation_points(households, 11, np.random.default_rng(1))
    fast = forecast_model.fast_model_hours(households, points, forecast_model.rounded(model).predict)
    meter_h, naive_h = forecast_model.device_hours(
        households, points, _load_text(forecast_model.emlearn_csv(model)), progress=False
    )
    assert np.allclose(fast, meter_h, atol=1e-3)
    assert naive_h.tolist() == [forecast_model.naive_hours(households[p.household], p) for p in points]


def test_train_writes_model_header_plot_and_report_then_deploys(tmp_path, capsys):
    out = tmp_path / "model"
    report = forecast_model.main(
        ["train", "--out", str(out), "--households", "6", "--validation", "2", "--test", "3", "--days", "45",
         "--candidates", "tree-d5,forest-3x6,profile-rule", "--quiet", "--eval-stride", "17"]
    )  # fmt: skip

    printed = capsys.readouterr().out
    assert "MAE model" in printed and "naive" in printed
    assert report["choice"] in ("tree-d5", "forest-3x6")
    assert report["c_agrees_with_meter_evaluator"] in (True, None)  # None: no C compiler here
    assert 0 < (out / "depletion.csv").stat().st_size <= forecast_model.MODEL_BYTES_MAX
    assert "depletion_model_predict" in (out / "depletion_model.h").read_text()
    assert (out / "forecast_vs_actual.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((out / "report.json").read_text())
    assert saved["test"]["mae_model_h"] > 0 and saved["test"]["mae_naive_h"] > 0
    assert not saved["candidates"]["profile-rule"]["deployable"]

    flash = tmp_path / "flash" / "models"
    target = forecast_model.main(
        ["deploy", "--model", str(out / "depletion.csv"), "--flash", str(flash), "--native", str(tmp_path / "c")]
    )
    assert target.read_text() == (out / "depletion.csv").read_text()
    assert (tmp_path / "c" / "depletion_model.h").exists()


def test_deploy_refuses_a_model_over_budget_or_of_another_kind(tmp_path):
    big = tmp_path / "big.csv"
    big.write_text("f,8\r\nc,0\r\nlb,32\r\n" + "l,1.0\r\n" * 2000)
    with pytest.raises(SystemExit, match="budget"):
        forecast_model.main(["deploy", "--model", str(big), "--flash", str(tmp_path / "flash")])
    other = tmp_path / "other.csv"
    other.write_text("f,2\r\nc,0\r\nlb,32\r\nl,1.5\r\nl,2.5\r\nr,0\r\nn,1,10.0,-1,-2")
    with pytest.raises(SystemExit, match="not a depletion model"):
        forecast_model.main(["deploy", "--model", str(other), "--flash", str(tmp_path / "flash")])
    assert not (tmp_path / "flash").exists()


def test_bench_reports_the_budgets(capsys):
    from tools import bench_forecast

    figures = bench_forecast.main(["--runs", "20"])
    assert "ms" in capsys.readouterr().out
    assert figures["model_bytes"] <= 8 * 1024
    assert figures["forecast_ms_median"] < 5
    assert figures["smallest_heap_bytes_from_source"] <= 64 * 1024
