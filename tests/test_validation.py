"""Pre-deployment validation suite."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench import validation as v
from workbench.validation import ValidationResult, ValidationSuite

sk_metrics = pytest.importorskip("sklearn.metrics")


class Shifted:
    """Regression model predicting the truth plus a constant."""

    def __init__(self, shift=0.0):
        self.shift = shift

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return X[:, 0] * 2.0 + 1.0 + self.shift


@pytest.fixture
def regression_data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 2))
    y = X[:, 0] * 2.0 + 1.0
    return X, y


# -- metrics ---------------------------------------------------------------------------


def test_numpy_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.normal(size=300)
    p = y + rng.normal(scale=0.4, size=300)
    assert v.mae(y, p) == pytest.approx(sk_metrics.mean_absolute_error(y, p))
    assert v.mse(y, p) == pytest.approx(sk_metrics.mean_squared_error(y, p))
    assert v.rmse(y, p) == pytest.approx(math.sqrt(sk_metrics.mean_squared_error(y, p)))
    assert v.r2(y, p) == pytest.approx(sk_metrics.r2_score(y, p))
    labels = rng.integers(0, 2, size=300)
    scores = np.round(labels * 0.3 + rng.uniform(size=300), 1)  # rounded: many ties
    assert v.roc_auc(labels, scores) == pytest.approx(sk_metrics.roc_auc_score(labels, scores))
    pred = (scores > 0.6).astype(int)
    assert v.accuracy(labels, pred) == pytest.approx(sk_metrics.accuracy_score(labels, pred))
    with pytest.raises(ValueError, match="two classes"):
        v.roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="y_pred"):
        v.mae([1, 2], [1])


def test_numpy_fallback_used_without_sklearn(monkeypatch, regression_data):
    X, y = regression_data
    for name, m in v.METRICS.items():
        monkeypatch.setitem(v.METRICS, name, v._Metric(m.fn, None, m.higher_is_better, m.uses))
    rep = ValidationSuite().add_performance("mae", max_value=1.0).run(Shifted(0.25), X, y)
    assert rep.results[0].value == pytest.approx(0.25)


# -- checks -----------------------------------------------------------------------------


def test_regression_thresholds_known_values(regression_data):
    X, y = regression_data
    suite = (
        ValidationSuite()
        .add_performance("mae", max_value=0.3)
        .add_performance("rmse", max_value=0.3)
        .add_performance("r2", min_value=0.9)
    )
    good = suite.run(Shifted(0.25), X, y)
    assert good.passed
    assert good.table["value"].tolist()[:2] == pytest.approx([0.25, 0.25])
    bad = suite.run(Shifted(0.5), X, y)
    assert not bad.passed
    assert [r.name for r in bad.failures] == ["mae", "rmse"]
    assert "0.5 > 0.3" in bad.failures[0].message
    assert bad.summary().startswith("validation failed: mae")


def test_classification_auc_uses_predict_proba_and_accuracy_thresholds():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 3))
    y = (X[:, 0] + 0.5 * rng.normal(size=600) > 0).astype(int)
    model = LogisticRegression().fit(X[:300], y[:300])
    Xh, yh = X[300:], y[300:]
    rep = (
        ValidationSuite()
        .add_performance("auc", min_value=0.8)
        .add_performance("accuracy", min_value=0.75)
        .run(model, Xh, yh)
    )
    assert rep.passed
    expected_auc = sk_metrics.roc_auc_score(yh, model.predict_proba(Xh)[:, 1])
    assert rep.results[0].value == pytest.approx(expected_auc)
    assert rep.results[1].value == pytest.approx(sk_metrics.accuracy_score(yh, model.predict(Xh)))

    class ProbaOnly:  # predict returns probabilities: accuracy thresholds them at 0.5
        def predict(self, X):
            return np.array([0.2, 0.7, 0.9, 0.4])

    rep = (
        ValidationSuite()
        .add_performance("accuracy", min_value=0.7)
        .run(ProbaOnly(), None, np.array([0, 1, 0, 0]))
    )
    assert rep.results[0].value == pytest.approx(0.75) and rep.passed


def test_nan_never_passes_a_threshold(regression_data):
    X, y = regression_data

    class Nan:
        def predict(self, X):
            out = np.zeros(len(X))
            out[3] = np.nan
            return out

    rep = (
        ValidationSuite()
        .add_performance("mae", max_value=1e9)
        .add_prediction_bounds(lower=-1e9, upper=1e9)
        .run(Nan(), X, y)
    )
    assert [r.passed for r in rep.results] == [False, False]
    assert "NaN" in rep.results[0].message
    assert rep.results[1].value == pytest.approx(1 / len(X))
    ok = ValidationSuite().add_prediction_bounds(allow_nan=True).run(Nan(), X, y)
    assert ok.passed


def test_prediction_bounds(regression_data):
    X, y = regression_data
    preds = Shifted().predict(X)
    frac_above = float(np.mean(preds > 3.0))
    rep = ValidationSuite().add_prediction_bounds(upper=3.0).run(Shifted(), X, y)
    assert rep.results[0].value == pytest.approx(frac_above) and not rep.passed
    rep = (
        ValidationSuite()
        .add_prediction_bounds(upper=3.0, max_fraction_outside=0.5)
        .run(Shifted(), X, y)
    )
    assert rep.passed


def test_prediction_drift_ks_and_wasserstein():
    rng = np.random.default_rng(9)
    ref = rng.normal(size=500)

    class Fixed:
        def __init__(self, out):
            self.out = out

        def predict(self, X):
            return self.out

    same = rng.normal(size=500)
    shifted = ref + 0.5
    ks = ValidationSuite().add_prediction_drift(ref, method="ks")
    r_same = ks.run(Fixed(same), None).results[0]
    assert r_same.value == pytest.approx(stats.ks_2samp(ref, same).pvalue) and r_same.passed
    assert not ks.run(Fixed(shifted), None).passed
    # a pure shift of the same sample moves the Wasserstein distance by exactly the shift
    w = ValidationSuite().add_prediction_drift(ref, method="wasserstein")
    r = w.run(Fixed(shifted), None).results[0]
    assert r.value == pytest.approx(0.5 / np.std(ref)) and not r.passed
    assert r.threshold == 0.1
    # auto: Wasserstein above 1000 reference rows (Evidently's default)
    big = ValidationSuite().add_prediction_drift(rng.normal(size=2000))
    assert "Wasserstein" in big.run(Fixed(same), None).results[0].message
    with pytest.raises(ValueError, match="method"):
        ValidationSuite().add_prediction_drift(ref, method="psi")


def test_latency_budget_with_an_injected_clock():
    durations_ms = [5.0, 2.0, 2.0, 3.0, 2.0, 40.0]  # 1 warm-up batch, then 5 timed
    stamps = []
    t = 100.0
    for d in durations_ms:  # each predict reads the clock before and after
        stamps += [t, t + d / 1000]
        t += 1.0
    clock = iter(stamps).__next__

    calls = []

    class Model:
        def predict(self, X):
            calls.append(len(X))
            return np.zeros(len(X))

    X = np.zeros((7, 1))
    suite = ValidationSuite().add_latency_budget(
        max_ms=10.0, quantile=0.5, batch_size=3, n_batches=5, warmup=1, clock=clock
    )
    rep = suite.run(Model(), X)
    assert rep.results[0].value == pytest.approx(2.0) and rep.passed
    assert calls[1:] == [3, 3, 3, 3, 3, 3]  # batches wrap around 7 rows: never a short one
    ms = itertools.count()
    strict = ValidationSuite().add_latency_budget(
        max_ms=10.0,
        quantile=1.0,
        batch_size=3,
        n_batches=5,
        warmup=1,
        clock=lambda: next(ms) * 0.001,
    )
    assert strict.run(Model(), X).results[0].value == pytest.approx(1.0)


def test_latency_budget_real_clock_measures_something(regression_data):
    X, y = regression_data
    rep = ValidationSuite().add_latency_budget(max_ms=1e6, n_batches=5).run(Shifted(), X, y)
    assert rep.passed and rep.results[0].value >= 0.0


def test_custom_validators_and_broken_checks(regression_data):
    X, y = regression_data

    def boom(model, X, y):
        raise RuntimeError("no GPU")

    rep = (
        ValidationSuite()
        .add_custom("bool", lambda m, X, y: True)
        .add_custom("tuple", lambda m, X, y: (False, 0.3, "too slow"), threshold=0.2)
        .add_custom("result", lambda m, X, y: ValidationResult("result", True, 1.0, 2.0, "fine"))
        .add_custom("boom", boom)
        .add_custom("wrong", lambda m, X, y: "yes")
        .run(Shifted(), X, y)
    )
    t = rep.table.set_index("name")
    assert list(t["passed"]) == [True, False, True, False, False]
    assert (t.loc["tuple", "value"], t.loc["tuple", "threshold"]) == (0.3, 0.2)
    assert t.loc["boom", "message"] == "RuntimeError: no GPU"
    assert "must return a bool" in t.loc["wrong", "message"]


def test_predict_failure_fails_prediction_checks_but_not_the_suite(regression_data):
    X, y = regression_data

    class Broken:
        def predict(self, X):
            raise ValueError("shape mismatch")

    rep = (
        ValidationSuite()
        .add_prediction_bounds(lower=0)
        .add_performance("mae", max_value=1)
        .add_custom("always", lambda m, X, y: True)
        .run(Broken(), X, y)
    )
    assert [r.passed for r in rep.results] == [False, False, True]
    assert "predict failed: ValueError: shape mismatch" in rep.results[0].message
    assert not rep.passed and not bool(rep)


def test_missing_labels_and_bad_configuration(regression_data):
    X, _ = regression_data
    rep = ValidationSuite().add_performance("mae", max_value=1).run(Shifted(), X)
    assert not rep.passed and rep.results[0].message == "no labels (y) given"
    assert not ValidationSuite().run(Shifted(), X).passed  # no checks: nothing proven
    with pytest.raises(ValueError, match="metric"):
        ValidationSuite().add_performance("f7", max_value=1)
    with pytest.raises(ValueError, match="max_value"):
        ValidationSuite().add_performance("mae", min_value=1)
    with pytest.raises(ValueError, match="duplicate"):
        ValidationSuite().add_performance("mae", max_value=1).add_performance("mae", max_value=2)
    with pytest.raises(ValueError, match="model"):
        ValidationSuite().run(object(), X)
    with pytest.raises(ValueError, match="lower"):
        ValidationSuite().add_prediction_bounds(lower=2, upper=1)


def test_from_specs(regression_data):
    X, y = regression_data
    suite = ValidationSuite.from_specs(
        [
            {"kind": "bounds", "lower": -100, "upper": 100},
            {"kind": "performance", "metric": "mae", "max_value": 0.3},
            {"kind": "drift", "reference_predictions": Shifted().predict(X).tolist()},
        ]
    )
    assert suite.names == ["prediction_bounds", "mae", "prediction_drift"]
    assert suite.run(Shifted(0.1), X, y).passed
    with pytest.raises(ValueError, match=r"specs\[0\].kind"):
        ValidationSuite.from_specs([{"kind": "vibes"}])
    with pytest.raises(ValueError, match=r"specs\[0\]"):
        ValidationSuite.from_specs([{"kind": "performance", "metric": "mae", "maxx": 1}])


def test_dataframe_input_and_table_columns():
    X = pd.DataFrame({"a": np.arange(5.0), "b": 0.0})
    y = X["a"] * 2 + 1
    rep = (
        ValidationSuite()
        .add_performance("mae", max_value=0.1)
        .add_latency_budget(max_ms=1e6, batch_size=2, n_batches=3)
        .run(Shifted(), X, y)
    )
    assert rep.passed
    assert list(rep.table.columns) == ["name", "passed", "value", "threshold", "message"]
