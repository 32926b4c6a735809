"""A real scikit-learn tuning task for bench/tune: a standardized RBF
support vector regression of the diabetes dataset (442 patients, shipped
with scikit-learn, nothing downloaded), three parameters (C: logUniform
1e-2..1e3; gamma: logUniform 1e-4..1; epsilon: logUniform 1e-3..1e2),
the objective the 5-fold cross-validated RMSE (lower is better).
Deterministic for given parameters, so every algorithm sees the same
function.

    python3 bench/tune/sklearn_task.py serve   # one JSON object a line in,
                                               # the RMSE a line out
"""
import json
import sys

from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

X, Y = load_diabetes(return_X_y=True)
FOLDS = KFold(n_splits=5, shuffle=True, random_state=0)


def rmse(c, gamma, epsilon):
    model = make_pipeline(StandardScaler(), SVR(C=c, gamma=gamma, epsilon=epsilon))
    return -cross_val_score(model, X, Y, cv=FOLDS, scoring="neg_root_mean_squared_error").mean()


def serve():
    for line in sys.stdin:
        p = json.loads(line)
        print(repr(rmse(float(p["C"]), float(p["gamma"]), float(p["epsilon"]))), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: sklearn_task.py serve")
    serve()
