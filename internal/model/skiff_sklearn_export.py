#!/usr/bin/env python3
"""Export a fitted scikit-learn estimator to skiff's JSON model format.

skiff serve-model evaluates the file natively in Go, with no Python at serve
time. The format ("skiff-sklearn", format_version 1) is documented in skiff's
docs/model-format.md.

  python3 skiff_sklearn_export.py MODEL.pkl|MODEL.joblib OUT.json [--features a,b,c]
  skiff export-sklearn MODEL.pkl OUT.json            # the same, run by skiff

A pickle that holds a dict with "model" (and optionally "features") is read
as the seed's train.py writes it. As a module: export(estimator, features).
Supported: linear regressors, LogisticRegression, decision trees, random
forests, extra trees and gradient boosting (regressors and classifiers).
"""
import argparse
import json
import os
import pickle
import sys
import tempfile

FORMAT, FORMAT_VERSION = "skiff-sklearn", 1

LINEAR_REGRESSORS = {
    "LinearRegression", "Ridge", "RidgeCV", "Lasso", "LassoCV", "ElasticNet", "ElasticNetCV",
    "Lars", "LarsCV", "LassoLars", "LassoLarsCV", "LassoLarsIC", "OrthogonalMatchingPursuit",
    "BayesianRidge", "ARDRegression", "HuberRegressor", "SGDRegressor", "TheilSenRegressor",
    "RANSACRegressor", "LinearSVR", "QuantileRegressor",
}
TREE_REGRESSORS = {"DecisionTreeRegressor", "ExtraTreeRegressor"}
TREE_CLASSIFIERS = {"DecisionTreeClassifier", "ExtraTreeClassifier"}
FOREST_REGRESSORS = {"RandomForestRegressor", "ExtraTreesRegressor"}
FOREST_CLASSIFIERS = {"RandomForestClassifier", "ExtraTreesClassifier"}


class ExportError(Exception):
    """The estimator cannot be exported; the message says why."""


def _tree(tree, width, classifier):
    t = tree.tree_
    if t.n_outputs != 1:
        raise ExportError("multi-output trees are not supported (n_outputs=%d)" % t.n_outputs)
    values = t.value[:, 0, :width] if classifier else t.value[:, 0, :1]
    return {
        "left": t.children_left.tolist(),
        "right": t.children_right.tolist(),
        "feature": t.feature.tolist(),
        "threshold": t.threshold.tolist(),
        "value": values.tolist(),
    }


def _classes(est):
    return est.classes_.tolist()


def _scaler(step):
    """A fitted scaler as a preprocess step, or None if it is not one."""
    name = type(step).__name__

    def arr(a):
        return None if a is None else [float(v) for v in a]
    if name == "StandardScaler":
        return {"kind": "standard", "mean": arr(step.mean_) if step.with_mean else None,
                "scale": arr(step.scale_) if step.with_std else None}
    if name == "MinMaxScaler":
        if getattr(step, "clip", False):
            raise ExportError("MinMaxScaler(clip=True) is not supported")
        return {"kind": "minmax", "scale": arr(step.scale_), "min": arr(step.min_)}
    if name == "MaxAbsScaler":
        return {"kind": "maxabs", "scale": arr(step.scale_)}
    return None


def _xgboost_hint(est):
    """The way to serve an XGBoost model, which skiff reads natively."""
    if type(est).__module__.split(".")[0] == "xgboost":
        return ("%s is an XGBoost model, which skiff serves as it is: save it with "
                "model.save_model(\"model.json\") and serve that file with modelFormat xgboost "
                "(skiff serve model.json --format xgboost)" % type(est).__name__)
    return None


def export(est, features=None):
    """Return the JSON-ready dict for a fitted estimator or a Pipeline of
    scalers (StandardScaler, MinMaxScaler, MaxAbsScaler) and an estimator."""
    hint = _xgboost_hint(est)
    if hint:
        raise ExportError(hint)
    name = type(est).__name__
    if name == "Pipeline":
        steps = [s for _, s in est.steps if s not in (None, "passthrough")]
        pre = []
        for s in steps[:-1]:
            p = _scaler(s)
            if p is None:
                raise ExportError("pipeline step %s is not supported: skiff exports StandardScaler, MinMaxScaler "
                                  "and MaxAbsScaler before the estimator" % type(s).__name__)
            pre.append(p)
        if features is None and hasattr(est, "feature_names_in_"):
            features = [str(f) for f in est.feature_names_in_]
        out = _export_estimator(steps[-1], features)
        out["preprocess"] = pre
        out["estimator"] = "Pipeline(%s)" % ", ".join(type(s).__name__ for s in steps)
        return out
    return _export_estimator(est, features)


def _export_estimator(est, features):
    import numpy as np
    import sklearn

    name = type(est).__name__
    n_features = getattr(est, "n_features_in_", None)
    if n_features is None:
        raise ExportError("%s is not fitted (no n_features_in_): fit it before exporting" % name)
    if features is None and hasattr(est, "feature_names_in_"):
        features = [str(f) for f in est.feature_names_in_]
    if features is not None and len(features) != n_features:
        raise ExportError("%d feature names given for a model of %d features" % (len(features), n_features))
    out = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "estimator": name,
        "sklearn_version": sklearn.__version__, "n_features": int(n_features),
        "feature_names": list(features) if features else None,
    }
    if name in LINEAR_REGRESSORS:
        if name == "RANSACRegressor":
            est = est.estimator_
        coef = np.asarray(est.coef_, dtype=float)
        if coef.ndim != 1 and coef.shape[0] != 1:
            raise ExportError("%s has %d outputs; only single-output regressors are supported" % (name, coef.shape[0]))
        out["link"] = "identity"
        intercept = np.ravel(getattr(est, "intercept_", 0.0)).astype(float)
        out["linear"] = {"coef": [coef.ravel().tolist()], "intercept": [float(intercept[0]) if intercept.size else 0.0]}
        return out
    if name in ("LogisticRegression", "LogisticRegressionCV"):
        classes = _classes(est)
        ovr = est.multi_class in ("ovr", "warn") or (
            est.multi_class == "auto" and (len(classes) <= 2 or est.solver == "liblinear"))
        if len(classes) == 2:
            # A binary multinomial model is softmax([-s, s]), that is sigmoid(2s).
            out["link"] = "logistic" if ovr else "exponential"
        else:
            out["link"] = "ovr" if ovr else "softmax"
        out["classes"] = classes
        out["linear"] = {"coef": est.coef_.astype(float).tolist(), "intercept": np.ravel(est.intercept_).astype(float).tolist()}
        return out
    if name in TREE_REGRESSORS or name in FOREST_REGRESSORS:
        trees = est.estimators_ if name in FOREST_REGRESSORS else [est]
        out["link"] = "identity"
        out["ensemble"] = {"combine": "average", "stages": [[_tree(t, 1, False)] for t in trees]}
        return out
    if name in TREE_CLASSIFIERS or name in FOREST_CLASSIFIERS:
        trees = est.estimators_ if name in FOREST_CLASSIFIERS else [est]
        if getattr(est, "n_outputs_", 1) != 1:
            raise ExportError("multi-output classifiers are not supported")
        classes = _classes(est)
        out["link"] = "proba"
        out["classes"] = classes
        out["ensemble"] = {"combine": "average", "stages": [[_tree(t, len(classes), True)] for t in trees]}
        return out
    if name in ("GradientBoostingRegressor", "GradientBoostingClassifier"):
        from sklearn.dummy import DummyClassifier, DummyRegressor
        if not (isinstance(est.init_, str) and est.init_ == "zero") and not isinstance(est.init_, (DummyRegressor, DummyClassifier)):
            raise ExportError("%s with init=%s is not supported: its first guess depends on the input; use the default init or 'zero'" % (name, type(est.init_).__name__))
        init = est._raw_predict_init(np.zeros((1, n_features)))[0].astype(float).tolist()
        stages = [[_tree(t, 1, False) for t in stage] for stage in est.estimators_]
        if name == "GradientBoostingRegressor":
            out["link"] = "identity"
        else:
            classes = _classes(est)
            out["classes"] = classes
            if len(classes) == 2:
                out["link"] = "exponential" if type(est._loss).__name__ == "ExponentialLoss" else "logistic"
            else:
                out["link"] = "softmax"
        out["ensemble"] = {"combine": "boosting", "learning_rate": float(est.learning_rate), "init": init, "stages": stages}
        return out
    raise ExportError(
        "%s is not supported; skiff exports linear regressors, LogisticRegression, decision trees, "
        "random forests, extra trees and gradient boosting" % name)


def _load(path):
    if path.endswith(".joblib"):
        import joblib
        return joblib.load(path)
    with open(path, "rb") as f:
        return pickle.load(f)


def write(est, out_path, features=None):
    """Export est to out_path atomically (a server watching the folder never
    reads half a file)."""
    doc = export(est, features)
    folder = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(folder, exist_ok=True)  # e.g. a new version folder
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".skiff-export-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from a server run as another user
        os.replace(tmp, out_path)
    except BaseException:
        os.unlink(tmp)
        raise
    return doc


def main(argv=None):
    p = argparse.ArgumentParser(description="Export a fitted scikit-learn estimator for skiff serve-model.")
    p.add_argument("model", help="a pickle or joblib file holding the estimator (or a dict with 'model')")
    p.add_argument("out", help="the JSON file to write, e.g. repository/housing/1/model.json")
    p.add_argument("--features", help="comma-separated feature names, in the model's column order")
    args = p.parse_args(argv)
    try:
        obj = _load(args.model)
    except ImportError as e:
        print("error: %s cannot read %s: %s (install python3-sklearn, or run the exporter with the "
              "Python that fitted the model: skiff export-sklearn --python PATH)" % (sys.executable, args.model, e), file=sys.stderr)
        return 1
    except OSError as e:
        print("error: cannot read %s: %s" % (args.model, e), file=sys.stderr)
        return 1
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, IndexError) as e:
        print("error: %s is not a pickle or joblib file (%s): give the file that pickle.dump or "
              "joblib.dump wrote" % (args.model, e), file=sys.stderr)
        return 1
    features = args.features.split(",") if args.features else None
    if isinstance(obj, dict):
        if "model" not in obj:
            print("error: %s holds a dict without a 'model' key (keys: %s)" % (args.model, ", ".join(map(str, obj))), file=sys.stderr)
            return 1
        features = features or obj.get("features")
        obj = obj["model"]
    try:
        doc = write(obj, args.out, features)
    except ExportError as e:
        print("error: %s: %s" % (args.model, e), file=sys.stderr)
        return 1
    print("exported %s (%d features) to %s" % (doc["estimator"], doc["n_features"], args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
