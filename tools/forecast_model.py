"""Train, evaluate, convert and deploy the meter's credit-depletion model.

    python -m tools.forecast_model train --out build/model        # about a minute on 2 cores
    python -m tools.forecast_model evaluate --model firmware/models/depletion.csv
    python -m tools.forecast_model deploy --model build/model/depletion.csv --flash firmware/models \\
        --native hardware/native

`train` generates seeded households with `tools.loadprofiles` (disjoint train, validation and test sets),
builds the features the meter computes (`firmware/meter/forecast.py`), fits the candidate models, picks the
best one that fits the budgets on the validation households, exports it with emlearn (CSV for the meter's
evaluator, C header for a native build), and evaluates it on the held-out test households with the meter's
own code (`meter.forecast` + `meter.trees`, imported under CPython): the mean absolute error of the time to
depletion, model against the naive forecast (credit / trailing 24-hour mean). It writes, in `--out`:
`depletion.csv`, `depletion_model.h`, `forecast_vs_actual.png` and `report.json`.

Two changes make emlearn's int16 export behave like scikit-learn on the integer features (see
docs/forecasting.md): thresholds become floor(t) + 1, because emlearn's C truncates a threshold t and tests
`feature < int(t)` where scikit-learn tests `feature <= t`; and leaves are rounded to 0.1 % so the CSV is short.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tools import loadprofiles

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # firmware/ is MicroPython source, not an installed package
    sys.path.append(str(ROOT))
from firmware.meter import forecast, trees  # noqa: E402  (the meter's own code, run under CPython)

MODEL_BYTES_MAX = 8 * 1024
HISTORY_H = 168  # the meter's ring
DAY_H = 24
EVAL_CREDIT_HOURS = (0.5, 96.0)  # evaluation points: actual time to depletion drawn uniformly from this range
EPOCH = dt.date(1970, 1, 1)  # hour numbers count from the unix port's (and CPython's) epoch
TEST_FIRST_INDEX = 20_000  # household indices: training from 0, validation from 10 000, test from 20 000
VALIDATION_FIRST_INDEX = 10_000


# ---------------------------------------------------------------------------------------------------- features


def first_hour_number(household: loadprofiles.Household) -> int:
    return (household.start - EPOCH).days * DAY_H


def features(wh: np.ndarray, first_hour: int, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The meter's features for the 24 hours after each forecast start (vectorised History.features).

    `wh`: the household's hourly Wh; `starts`: indices t >= 168 where a forecast is made, with wh[t - 168:t]
    recorded. Returns X of shape (len(starts) * 24, FEATURES) and the week's totals (len(starts),). Rows of a
    week with no consumption are meaningless (the meter predicts 0 without the model).
    """
    wh = np.minimum(wh.astype(np.int64), 65535)
    t = starts.astype(np.int64)[:, None]
    offset = np.arange(DAY_H)[None, :]
    target = t + offset
    cumulative = np.concatenate([[0], np.cumsum(wh)])
    zero_cumulative = np.concatenate([[0], np.cumsum(wh == 0)])
    n = HISTORY_H
    total = cumulative[t] - cumulative[t - n]
    safe_total = np.maximum(total, 1)
    total_day = cumulative[t] - cumulative[t - DAY_H]
    zeros = zero_cumulative[t] - zero_cumulative[t - DAY_H]
    profile = sum(wh[target - DAY_H * day] for day in range(1, 8))
    hour = first_hour + target

    def percent(value, denominator):
        return np.minimum(value * 100 * n // denominator, 32767)

    columns = [
        hour % DAY_H,
        (hour // DAY_H + forecast.weekday(0)) % 7,
        np.broadcast_to(np.minimum(total // n, 32767), target.shape),
        percent(profile, 7 * safe_total),
        percent(wh[target - DAY_H], safe_total),
        percent(wh[target - HISTORY_H], safe_total),
        np.broadcast_to(percent(total_day, DAY_H * safe_total), target.shape),
        np.broadcast_to(zeros, target.shape),
    ]
    X = np.stack([np.asarray(column).reshape(-1) for column in columns], axis=1)
    return X.astype(np.int32), total.reshape(-1)


def training_set(households, stride: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rows for every `stride`-th hour of each household; the target is the hour's Wh in percent of the mean hour."""
    Xs, ys = [], []
    for household in households:
        wh = household.wh
        starts = np.arange(HISTORY_H + rng.integers(stride), len(wh) - DAY_H, stride)
        X, total = features(wh, first_hour_number(household), starts)
        target = wh[starts[:, None] + np.arange(DAY_H)[None, :]].astype(np.float64)
        y = target * 100 * HISTORY_H / np.maximum(total, 1)[:, None]
        keep = np.repeat(total > 0, DAY_H)
        Xs.append(X[keep])
        ys.append(y.reshape(-1)[keep])
    return np.concatenate(Xs), np.concatenate(ys)


# ---------------------------------------------------------------------------------------------------- evaluation


@dataclass
class Point:
    """A forecast to score: household `household`, made at hour index `start` with `credit_wh` left."""

    household: int
    start: int
    credit_wh: int
    actual_h: float


def actual_hours(future_wh: np.ndarray, credit_wh: int) -> float:
    """When `credit_wh` runs out on the real consumption (linear within an hour); HORIZON_H if not within it."""
    cumulative = np.cumsum(future_wh[: forecast.HORIZON_H])
    hour = int(np.searchsorted(cumulative, credit_wh))  # first hour whose cumulative reaches the credit
    if hour >= len(cumulative):
        return float(forecast.HORIZON_H)
    before = cumulative[hour - 1] if hour else 0
    return hour + (credit_wh - before) / future_wh[hour]


def evaluation_points(households, stride: int, rng: np.random.Generator) -> list[Point]:
    points = []
    low, high = EVAL_CREDIT_HOURS
    for index, household in enumerate(households):
        wh = household.wh
        for start in range(HISTORY_H + int(rng.integers(stride)), len(wh) - forecast.HORIZON_H, stride):
            hours = rng.uniform(low, high)
            whole = int(hours)
            credit = round(int(wh[start : start + whole].sum()) + (hours - whole) * int(wh[start + whole]))
            if credit > 0:
                points.append(Point(index, start, credit, actual_hours(wh[start:], credit)))
    return points


def naive_hours(household, point: Point) -> float:
    """The naive forecast, as forecast.naive_hours_until_depleted computes it."""
    total = int(household.wh[point.start - DAY_H : point.start].sum())
    if not total:
        return float(forecast.HORIZON_H)
    return min(point.credit_wh * DAY_H / total, float(forecast.HORIZON_H))


def fast_model_hours(households, points: list[Point], predict) -> np.ndarray:
    """Model forecasts with a vectorised `predict` (percent of the mean hour) and the meter's walk."""
    out = np.empty(len(points))
    by_household: dict[int, list[int]] = {}
    for position, point in enumerate(points):
        by_household.setdefault(point.household, []).append(position)
    for index, positions in by_household.items():
        household = households[index]
        starts = np.array([points[p].start for p in positions])
        X, total = features(household.wh, first_hour_number(household), starts)
        predicted = np.maximum(predict(X), 0).reshape(-1, DAY_H) * (total / (100 * HISTORY_H))[:, None]
        for row, position in enumerate(positions):
            point = points[position]
            out[position] = forecast.walk(point.credit_wh, predicted[row].tolist()) if total[row] else float(
                forecast.HORIZON_H
            )
    return out


def device_hours(households, points: list[Point], model, progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Model and naive forecasts computed by the meter's own code, hour by hour as the meter records them."""
    model_h = np.empty(len(points))
    naive_h = np.empty(len(points))
    by_household: dict[int, list[int]] = {}
    for position, point in enumerate(points):
        by_household.setdefault(point.household, []).append(position)
    for index in tqdm(sorted(by_household), desc="test households (meter code)", disable=not progress):
        household = households[index]
        history = forecast.History()
        first = first_hour_number(household)
        recorded = 0
        for position in by_household[index]:
            point = points[position]
            while recorded < point.start:
                history.record(first + recorded, int(household.wh[recorded]))
                recorded += 1
            model_h[position] = forecast.hours_until_depleted(point.credit_wh, history, model)
            naive_h[position] = forecast.naive_hours_until_depleted(point.credit_wh, history)
    return model_h, naive_h


def scores(points: list[Point], model_h: np.ndarray, naive_h: np.ndarray) -> dict:
    actual = np.array([point.actual_h for point in points])
    within_day = actual <= forecast.ALERT_DAY_H
    model_error = np.abs(model_h - actual)
    naive_error = np.abs(naive_h - actual)
    return {
        "points": len(points),
        "mae_model_h": round(float(model_error.mean()), 3),
        "mae_naive_h": round(float(naive_error.mean()), 3),
        "improvement": round(float(1 - model_error.mean() / naive_error.mean()), 4),
        "within_day_points": int(within_day.sum()),
        "within_day_mae_model_h": round(float(model_error[within_day].mean()), 3),
        "within_day_mae_naive_h": round(float(naive_error[within_day].mean()), 3),
    }


# ---------------------------------------------------------------------------------------------------- models


class ProfileRule:
    """Reference rule, no learning: next hour = this hour's mean over the past week (feature 3)."""

    def fit(self, X, y):
        return self

    def predict(self, X):
        return X[:, 3].astype(np.float64)


def candidates(seed: int) -> dict:
    """The model types and sizes compared; trees are deployable, the MLP and the profile rule are references."""
    from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeRegressor

    leaf = {"min_samples_leaf": 100, "random_state": seed}
    return {
        "tree-d5": DecisionTreeRegressor(max_depth=5, **leaf),
        "tree-d6": DecisionTreeRegressor(max_depth=6, **leaf),
        "tree-d8": DecisionTreeRegressor(max_depth=8, **leaf),
        "forest-3x6": RandomForestRegressor(3, max_depth=6, max_samples=0.3, n_jobs=2, **leaf),
        "extra-3x6": ExtraTreesRegressor(3, max_depth=6, n_jobs=2, **leaf),
        "extra-8x5": ExtraTreesRegressor(8, max_depth=5, n_jobs=2, **leaf),
        "profile-rule": ProfileRule(),
        "mlp-16": make_pipeline(
            StandardScaler(),
            MLPRegressor(hidden_layer_sizes=(16,), max_iter=40, early_stopping=True, random_state=seed),
        ),
    }


def is_trees(model) -> bool:
    return hasattr(model, "tree_") or (hasattr(model, "estimators_") and hasattr(model.estimators_[0], "tree_"))


def _tree_structures(model):
    return [estimator.tree_ for estimator in getattr(model, "estimators_", [model])]


def rounded(model):
    """A copy with leaves rounded to 0.1 %: what the meter evaluates (with the thresholds as trained)."""
    model = copy.deepcopy(model)
    for tree in _tree_structures(model):
        tree.value[...] = np.round(tree.value, 1)
    return model


def for_emlearn(model):
    """A copy to hand to emlearn: rounded leaves, thresholds floor(t) + 1.

    On integer features scikit-learn goes left when x <= t, i.e. x < floor(t) + 1; emlearn's int16 C goes
    left when x < int(t'). With t' = floor(t) + 1 the C (and meter.trees) decide exactly as scikit-learn did.
    """
    model = rounded(model)
    for tree in _tree_structures(model):
        inner = tree.children_left != -1
        tree.threshold[inner] = np.clip(np.floor(tree.threshold[inner]) + 1, -32768, 32767)
    return model


def emlearn_csv(model) -> str:
    import emlearn

    return emlearn.convert(for_emlearn(model), method="loadable").save(name="depletion", format="csv")


def emlearn_header(model, name: str = "depletion_model") -> str:
    import emlearn

    return emlearn.convert(for_emlearn(model), method="loadable").save(name=name)


def emlearn_c_predict(model, X: np.ndarray) -> np.ndarray:
    """emlearn's compiled C for the exported model (compiled in a temporary folder; needs a C compiler)."""
    import emlearn

    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        return np.asarray(emlearn.convert(for_emlearn(model), method="loadable").predict(X), dtype=np.float64)


def model_bytes(model) -> int:
    if isinstance(model, ProfileRule):
        return 0
    if is_trees(model):
        return len(emlearn_csv(model).encode())
    weights = sum(layer.size for layer in model[-1].coefs_) + sum(b.size for b in model[-1].intercepts_)
    return 4 * weights  # float32 weights; not deployable with meter.trees


# ---------------------------------------------------------------------------------------------------- plot


def plot(households, model, path: Path, count: int, seed: int) -> None:
    """Forecast against actual hours to depletion for `count` households over two weeks of prepaid use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng(seed)
    chosen = households[:count]
    figure, axes = plt.subplots(len(chosen), 1, figsize=(11, 2.6 * len(chosen)), sharex=True, squeeze=False)
    for axis, household in zip(axes[:, 0], chosen, strict=True):
        wh = household.wh
        first = first_hour_number(household)
        start = int(rng.integers(HISTORY_H, len(wh) - 3 * HISTORY_H))
        history = forecast.History()
        for hour in range(start):
            history.record(first + hour, int(wh[hour]))
        top_up = max(500, int(wh[start - HISTORY_H : start].sum()) * 3 // 7 // 100 * 100)  # about 3 days
        credit = top_up
        rows = []
        for hour in range(start, start + 14 * DAY_H):
            actual = actual_hours(wh[hour:], credit)
            rows.append(
                (
                    hour - start,
                    actual,
                    forecast.hours_until_depleted(credit, history, model),
                    forecast.naive_hours_until_depleted(credit, history),
                )
            )
            history.record(first + hour, int(wh[hour]))
            credit -= int(wh[hour])
            if credit <= 0:
                credit += top_up
        x, actual, model_h, naive_h = (np.array(column) for column in zip(*rows, strict=True))
        axis.plot(x, actual, color="black", lw=1.6, label="actual")
        axis.plot(x, model_h, color="tab:green", lw=1.2, label="model (meter)")
        axis.plot(x, naive_h, color="tab:red", lw=1.0, ls="--", label="naive: credit / 24 h mean")
        for threshold in (forecast.ALERT_DAY_H, forecast.ALERT_HOURS_H):
            axis.axhline(threshold, color="grey", lw=0.6, ls=":")
        axis.set_ylim(0, min(120, max(30, float(np.max(actual)) * 1.3)))
        axis.set_ylabel("hours left")
        axis.set_title(
            f"{household.name} ({household.shedding} load shedding), top-up {top_up} Wh", fontsize=9, loc="left"
        )
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("hours since the first top-up")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)


# ---------------------------------------------------------------------------------------------------- commands


def _households(args, count: int, first_index: int, progress) -> list:
    return [
        loadprofiles.generate(1, args.days, args.seed, first_index=index)[0]
        for index in progress(range(first_index, first_index + count))
    ]


def train(args) -> dict:
    """The `train` command; returns the report it writes."""
    began = time.monotonic()
    rng = np.random.default_rng(args.seed)

    def progress(iterable, desc=None):
        return tqdm(iterable, desc=desc, disable=args.quiet)

    train_set = _households(args, args.households, 0, lambda r: progress(r, "training households"))
    validation_set = _households(
        args, args.validation, VALIDATION_FIRST_INDEX, lambda r: progress(r, "validation households")
    )
    test_set = _households(args, args.test, TEST_FIRST_INDEX, lambda r: progress(r, "test households"))
    X, y = training_set(train_set, args.stride, rng)
    validation_points = evaluation_points(validation_set, args.eval_stride, rng)

    table = {}
    fitted = {}
    names = [name.strip() for name in args.candidates.split(",")] if args.candidates else list(candidates(0))
    all_candidates = candidates(args.seed)
    for name in progress(names, "candidates"):
        model = all_candidates[name]
        fit_began = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the MLP's ConvergenceWarning: it is only a reference point
            if hasattr(model, "steps"):  # the MLP pipeline: a subsample is plenty
                rows = rng.choice(len(X), min(len(X), args.mlp_rows), replace=False)
                model.fit(X[rows], y[rows])
            else:
                model.fit(X, y)
        deployable = is_trees(model)
        predict = rounded(model).predict if deployable else model.predict
        hours = fast_model_hours(validation_set, validation_points, predict)
        naive = np.array([naive_hours(validation_set[p.household], p) for p in validation_points])
        size = model_bytes(model)
        table[name] = {
            "deployable": deployable and size <= MODEL_BYTES_MAX,
            "model_bytes": size,
            "fit_s": round(time.monotonic() - fit_began, 1),
            **scores(validation_points, hours, naive),
        }
        fitted[name] = model

    usable = {name: row for name, row in table.items() if row["deployable"]}
    if not usable:
        raise SystemExit("no candidate fits the budgets")
    best = min(row["mae_model_h"] for row in usable.values())
    # The smallest model within 2 % of the best validation error.
    choice = min((row["model_bytes"], name) for name, row in usable.items() if row["mae_model_h"] <= best * 1.02)[1]
    chosen = fitted[choice]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "depletion.csv"
    csv_path.write_text(emlearn_csv(chosen))
    (out / "depletion_model.h").write_text(emlearn_header(chosen))
    meter_model = trees.load(str(csv_path))

    # The C that emlearn compiles and the meter's evaluator agree on validation features.
    sample_starts = np.arange(HISTORY_H, len(validation_set[0].wh) - DAY_H, 97)
    X_check, _ = features(validation_set[0].wh, first_hour_number(validation_set[0]), sample_starts)
    c_values = emlearn_c_predict(chosen, X_check) if shutil.which("cc") else None
    meter_values = np.array([meter_model.predict(row.tolist()) for row in X_check])
    c_agrees = None if c_values is None else bool(np.allclose(c_values, meter_values, rtol=0, atol=5e-6))

    test_points = evaluation_points(test_set, args.eval_stride, rng)
    model_h, naive_h = device_hours(test_set, test_points, meter_model, progress=not args.quiet)
    test_scores = scores(test_points, model_h, naive_h)
    plot_path = out / "forecast_vs_actual.png"
    plot(test_set, meter_model, plot_path, args.plot_households, args.seed)

    report = {
        "command": " ".join(["python -m tools.forecast_model", *args.argv]),
        "seed": args.seed,
        "days": args.days,
        "households": {"train": args.households, "validation": args.validation, "test": args.test},
        "training_rows": len(X),
        "candidates": table,
        "choice": choice,
        "choice_rule": "smallest file among trees <= 8 KB within 2 % of the best validation MAE",
        "model_bytes": csv_path.stat().st_size,
        "c_agrees_with_meter_evaluator": c_agrees,
        "test": test_scores,
        "seconds": round(time.monotonic() - began, 1),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _print_report(report, out)
    return report


def _print_report(report: dict, out: Path) -> None:
    print(f"{'candidate':14s} {'bytes':>6s} {'MAE model':>9s} {'MAE naive':>9s} {'<=24h model':>11s} {'fit s':>6s}")
    for name, row in report["candidates"].items():
        mark = "*" if name == report["choice"] else " " if row["deployable"] else "x"
        print(
            f"{mark}{name:13s} {row['model_bytes']:6d} {row['mae_model_h']:9.2f} {row['mae_naive_h']:9.2f} "
            f"{row['within_day_mae_model_h']:11.2f} {row['fit_s']:6.1f}"
        )
    test = report["test"]
    print(f"chosen: {report['choice']} ({report['model_bytes']} bytes); emlearn C == meter evaluator: "
          f"{report['c_agrees_with_meter_evaluator']}")  # fmt: skip
    print(
        f"test ({test['points']} forecasts, {report['households']['test']} held-out households): "
        f"MAE model {test['mae_model_h']:.2f} h, naive {test['mae_naive_h']:.2f} h "
        f"({100 * test['improvement']:.1f} % lower); within a day: model {test['within_day_mae_model_h']:.2f} h, "
        f"naive {test['within_day_mae_naive_h']:.2f} h"
    )
    print(f"wrote {out}/depletion.csv, depletion_model.h, forecast_vs_actual.png, report.json")


def evaluate(args) -> dict:
    """Score an existing CSV model on held-out test households with the meter's code."""
    rng = np.random.default_rng(args.seed)
    test_set = _households(args, args.test, TEST_FIRST_INDEX, lambda r: tqdm(r, "test households", disable=args.quiet))
    points = evaluation_points(test_set, args.eval_stride, rng)
    model_h, naive_h = device_hours(test_set, points, trees.load(str(args.model)), progress=not args.quiet)
    result = scores(points, model_h, naive_h)
    print(json.dumps(result, indent=2))
    return result


def deploy(args) -> Path:
    """Copy a checked model file into the flash folder (and its C header into the native build folder)."""
    model_path = Path(args.model)
    size = model_path.stat().st_size
    if size > MODEL_BYTES_MAX:
        raise SystemExit(f"{model_path} is {size} bytes, over the {MODEL_BYTES_MAX}-byte budget")
    model = trees.load(str(model_path))
    if model.n_features != forecast.FEATURES or model.n_classes:
        raise SystemExit(f"{model_path} is not a depletion model ({forecast.FEATURES} features, regression)")
    flash = Path(args.flash)
    flash.mkdir(parents=True, exist_ok=True)
    target = flash / Path(forecast.MODEL_PATH).name
    shutil.copyfile(model_path, target)
    print(f"deployed {model_path} ({size} bytes) to {target}")
    if args.native:
        header = model_path.with_name("depletion_model.h")
        native = Path(args.native)
        native.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(header, native / header.name)
        print(f"copied {header} to {native / header.name}")
    return target


def main(argv: list[str] | None = None):
    parser = argparse.ArgumentParser(prog="python -m tools.forecast_model", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def data_options(command, test: int):
        command.add_argument("--days", type=int, default=365, help="days per household (default a year)")
        command.add_argument("--seed", type=int, default=7)
        command.add_argument("--test", type=int, default=test, help="held-out test households")
        command.add_argument("--eval-stride", type=int, default=13, help="hours between scored forecasts")
        command.add_argument("--quiet", action="store_true", help="no progress bars")

    train_command = commands.add_parser("train", help="train, compare, convert, evaluate, plot")
    train_command.add_argument("--out", type=Path, default=ROOT / "build" / "model")
    train_command.add_argument("--households", type=int, default=60, help="training households")
    train_command.add_argument("--validation", type=int, default=20, help="validation households (model choice)")
    train_command.add_argument("--stride", type=int, default=5, help="hours between training forecasts")
    train_command.add_argument("--candidates", help=f"comma-separated subset of: {', '.join(candidates(0))}")
    train_command.add_argument("--mlp-rows", type=int, default=200_000, help="training rows for the MLP")
    train_command.add_argument("--plot-households", type=int, default=4)
    data_options(train_command, test=30)
    train_command.set_defaults(run=train)

    evaluate_command = commands.add_parser("evaluate", help="score a CSV model on held-out households")
    evaluate_command.add_argument("--model", type=Path, default=ROOT / "firmware" / forecast.MODEL_PATH)
    data_options(evaluate_command, test=30)
    evaluate_command.set_defaults(run=evaluate)

    deploy_command = commands.add_parser("deploy", help="copy a model into a flash folder")
    deploy_command.add_argument("--model", type=Path, default=ROOT / "build" / "model" / "depletion.csv")
    deploy_command.add_argument("--flash", type=Path, default=ROOT / "firmware" / "models")
    deploy_command.add_argument("--native", type=Path, help="also copy depletion_model.h here (a native build)")
    deploy_command.set_defaults(run=deploy)

    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return args.run(args)


if __name__ == "__main__":
    main()
