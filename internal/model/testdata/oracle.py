"""Train every model kind skiff evaluates with the real libraries, and write
each model, a held-out set and the libraries' own predictions, so that the
Go test can require agreement row by row. Data is bundled or generated
(seeded); nothing is downloaded.

  python3 oracle.py OUTDIR
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb
from sklearn import datasets, ensemble, linear_model, tree

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import skiff_sklearn_export  # noqa: E402

out_dir = sys.argv[1]
rng = np.random.default_rng(7)
cases = []


def split(X, y, n_test=60):
    idx = rng.permutation(len(X))
    return X[idx[n_test:]], y[idx[n_test:]], X[idx[:n_test]], y[idx[:n_test]]


def case(name, fmt, model_file, X_test, outputs):
    cases.append({"name": name, "format": fmt, "model": model_file, "x": X_test.tolist(), "outputs": outputs})


def listed(a):
    return np.asarray(a).tolist()


# Data: regression (diabetes, 10 features), binary (breast cancer, 30),
# multiclass (iris, 3 classes; wine, 3 classes), counts (Poisson), and a
# 13-feature regression like the seed's.
Xr, yr = datasets.load_diabetes(return_X_y=True)
Xb, yb = datasets.load_breast_cancer(return_X_y=True)
Xm, ym = datasets.load_iris(return_X_y=True)
Xw, yw = datasets.load_wine(return_X_y=True)
Xp = rng.uniform(0, 1, size=(400, 5))
yp = rng.poisson(np.exp(0.5 + Xp @ np.array([1.0, -0.5, 0.8, 0.0, 0.3])))
X13, y13 = datasets.make_regression(n_samples=600, n_features=13, noise=5.0, random_state=3)

# XGBoost: every objective, with missing values in training and held out.
def xgb_case(name, params, X, y, rounds=40):
    X = X.copy()
    holes = rng.random(X.shape) < 0.05
    X[holes] = np.nan
    Xtr, ytr, Xte, _ = split(X, y)
    booster = xgb.train(params, xgb.DMatrix(Xtr, label=ytr), num_boost_round=rounds)
    path = os.path.join(out_dir, name + ".json")
    booster.save_model(path)
    pred = booster.predict(xgb.DMatrix(Xte))
    case(name, "xgboost", path, Xte, {"predict": listed(pred.astype(np.float64))})


xgb_case("xgb-squarederror", {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3}, Xr, yr)
xgb_case("xgb-squarederror-100x13", {"objective": "reg:squarederror", "max_depth": 6}, X13, y13, rounds=100)
xgb_case("xgb-logistic", {"objective": "binary:logistic", "max_depth": 3}, Xb, yb)
xgb_case("xgb-logistic-basescore", {"objective": "binary:logistic", "max_depth": 3, "base_score": 0.3}, Xb, yb)
xgb_case("xgb-logitraw", {"objective": "binary:logitraw", "max_depth": 3}, Xb, yb)
xgb_case("xgb-softprob", {"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, Xw, yw)
xgb_case("xgb-softmax", {"objective": "multi:softmax", "num_class": 3, "max_depth": 3}, Xm, ym)
xgb_case("xgb-poisson", {"objective": "count:poisson", "max_depth": 3}, Xp, yp)
xgb_case("xgb-regression-forest", {"objective": "reg:squarederror", "num_parallel_tree": 4, "subsample": 0.8,
                                   "colsample_bynode": 0.8, "max_depth": 4}, Xr, yr, rounds=5)

# Categorical splits (feature types given, no pandas needed): held-out rows
# include an unseen category, a fractional one and missing values.
Xc = np.c_[rng.integers(0, 8, 500).astype(float), rng.random(500), rng.integers(0, 4, 500).astype(float)]
yc = np.array([3.0, -1, 0.5, 2, -2, 1, 0, 4])[Xc[:, 0].astype(int)] + Xc[:, 1] + 0.3 * Xc[:, 2]
Xc_tr, yc_tr, Xc_te, _ = split(Xc, yc)
Xc_te[:5, 0] = [9, 11, 2.5, np.nan, 0]
Xc_te[5:8, 2] = [np.nan, 7, 1]
cat_types = ["c", "q", "c"]
booster = xgb.train({"tree_method": "hist", "max_depth": 4, "max_cat_to_onehot": 1},
                    xgb.DMatrix(Xc_tr, label=yc_tr, enable_categorical=True, feature_types=cat_types), num_boost_round=30)
path = os.path.join(out_dir, "xgb-categorical.json")
booster.save_model(path)
pred = booster.predict(xgb.DMatrix(Xc_te, enable_categorical=True, feature_types=cat_types))
case("xgb-categorical", "xgboost", path, Xc_te, {"predict": listed(pred.astype(np.float64))})

xgb_case("xgb-dart", {"booster": "dart", "objective": "reg:squarederror", "max_depth": 4, "rate_drop": 0.3, "seed": 1}, Xr, yr, rounds=20)
xgb_case("xgb-dart-logistic", {"booster": "dart", "objective": "binary:logistic", "max_depth": 3, "rate_drop": 0.2, "seed": 1}, Xb, yb, rounds=20)

# scikit-learn: linear models, trees, forests, gradient boosting.
def sk_case(name, est, X, y, features=None):
    Xtr, ytr, Xte, _ = split(X, y)
    est.fit(Xtr, ytr)
    path = os.path.join(out_dir, name + ".json")
    skiff_sklearn_export.write(est, path, features)
    outputs = {"predict": listed(est.predict(Xte))}
    if hasattr(est, "predict_proba"):
        outputs["predict_proba"] = listed(est.predict_proba(Xte))
    case(name, "sklearn", path, Xte, outputs)


sk_case("sk-linear", linear_model.LinearRegression(), X13, y13)
sk_case("sk-ridge", linear_model.Ridge(alpha=0.5), Xr, yr)
sk_case("sk-lasso", linear_model.Lasso(alpha=0.01), Xr, yr)
sk_case("sk-sgd", linear_model.SGDRegressor(random_state=0), Xr, yr)
sk_case("sk-logistic-binary", linear_model.LogisticRegression(max_iter=5000), Xb, yb)
sk_case("sk-logistic-multinomial", linear_model.LogisticRegression(max_iter=5000), Xm, ym)
sk_case("sk-logistic-ovr", linear_model.LogisticRegression(multi_class="ovr", max_iter=5000), Xw, yw)
sk_case("sk-logistic-binary-multinomial", linear_model.LogisticRegression(multi_class="multinomial", max_iter=5000), Xb, yb)
sk_case("sk-logistic-strings", linear_model.LogisticRegression(max_iter=5000), Xm, np.array(["setosa", "versicolor", "virginica"])[ym])
sk_case("sk-tree-regressor", tree.DecisionTreeRegressor(max_depth=6, random_state=0), Xr, yr)
sk_case("sk-tree-classifier", tree.DecisionTreeClassifier(max_depth=4, random_state=0), Xw, yw)
sk_case("sk-forest-regressor", ensemble.RandomForestRegressor(n_estimators=30, random_state=0), Xr, yr)
sk_case("sk-forest-classifier", ensemble.RandomForestClassifier(n_estimators=30, random_state=0), Xb, yb)
sk_case("sk-forest-multiclass", ensemble.RandomForestClassifier(n_estimators=20, max_depth=5, random_state=0), Xw, yw)
sk_case("sk-extra-trees", ensemble.ExtraTreesRegressor(n_estimators=20, random_state=0), X13, y13)
sk_case("sk-gb-regressor", ensemble.GradientBoostingRegressor(n_estimators=50, random_state=0), Xr, yr)
sk_case("sk-gb-huber", ensemble.GradientBoostingRegressor(loss="huber", n_estimators=30, random_state=0), Xr, yr)
sk_case("sk-gb-binary", ensemble.GradientBoostingClassifier(n_estimators=40, random_state=0), Xb, yb)
sk_case("sk-gb-exponential", ensemble.GradientBoostingClassifier(loss="exponential", n_estimators=40, random_state=0), Xb, yb)
sk_case("sk-gb-multiclass", ensemble.GradientBoostingClassifier(n_estimators=30, random_state=0), Xw, yw)
sk_case("sk-gb-zero-init", ensemble.GradientBoostingRegressor(init="zero", n_estimators=30, random_state=0), Xr, yr)

from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, StandardScaler  # noqa: E402

sk_case("sk-pipeline-logistic", make_pipeline(StandardScaler(), linear_model.LogisticRegression(max_iter=5000)), Xw, yw)
sk_case("sk-pipeline-minmax-forest", make_pipeline(MinMaxScaler(), ensemble.RandomForestClassifier(n_estimators=10, random_state=0)), Xb, yb)
sk_case("sk-pipeline-scalers-ridge", make_pipeline(StandardScaler(with_mean=False), MaxAbsScaler(), linear_model.Ridge()), Xr, yr)

with open(os.path.join(out_dir, "cases.json"), "w") as f:
    json.dump(cases, f)
print("wrote %d cases" % len(cases))
