"""Set up the model-serving benchmark in OUT: a 100-tree XGBoost regressor
on 13 features and the seed's scikit-learn model (examples/003's train.py),
each exported into a skiff model repository, plus one-row request bodies.

  python3 setup.py OUT
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import xgboost as xgb
from sklearn.datasets import make_regression

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..", "..")
sys.path.insert(0, os.path.join(root, "internal", "model"))
import skiff_sklearn_export  # noqa: E402

out = sys.argv[1]
FEATURES = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT"]

# The seed's model and Flask API, in a folder of their own.
seed = os.path.join(out, "seed")
os.makedirs(seed)
for f in ("train.py", "api.py"):
    shutil.copy(os.path.join(root, "examples", "003-model-api", f), seed)
subprocess.run([sys.executable, "train.py"], cwd=seed, check=True, stdout=subprocess.DEVNULL)
os.makedirs(os.path.join(out, "repo", "housing", "1"))
subprocess.run([sys.executable, os.path.join(root, "internal", "model", "skiff_sklearn_export.py"),
                os.path.join(seed, "model.pkl"), os.path.join(out, "repo", "housing", "1", "model.json")],
               check=True, stdout=subprocess.DEVNULL)
with open(os.path.join(out, "repo", "housing", "model.yaml"), "w") as f:
    f.write("format: sklearn\n")

# The XGBoost model: 100 trees (depth 6) on 13 features.
X, y = make_regression(n_samples=2000, n_features=13, noise=5.0, random_state=1)
booster = xgb.train({"objective": "reg:squarederror", "max_depth": 6}, xgb.DMatrix(X, label=y), num_boost_round=100)
os.makedirs(os.path.join(out, "repo", "boost", "1"))
booster.save_model(os.path.join(out, "repo", "boost", "1", "model.json"))
booster.save_model(os.path.join(out, "boost.json"))
with open(os.path.join(out, "repo", "boost", "model.yaml"), "w") as f:
    f.write("format: xgboost\nfeatures: [%s]\n" % ", ".join(FEATURES))

# The same model with adaptive batching on, to show what batching does to
# tree models that evaluate in microseconds.
os.makedirs(os.path.join(out, "repo", "boost-batched", "1"))
booster.save_model(os.path.join(out, "repo", "boost-batched", "1", "model.json"))
with open(os.path.join(out, "repo", "boost-batched", "model.yaml"), "w") as f:
    f.write("format: xgboost\nbatching: {maxBatchSize: 32, maxDelay: 1ms}\n")

row = [float(v) for v in X[0]]
named = dict(zip(FEATURES, row))
with open(os.path.join(out, "row.txt"), "w") as f:
    f.write(",".join(repr(v) for v in row))
with open(os.path.join(out, "predict.json"), "w") as f:
    json.dump(named, f)
with open(os.path.join(out, "v2.json"), "w") as f:
    json.dump({"inputs": [{"name": "input-0", "shape": [1, 13], "datatype": "FP64", "data": row}]}, f)
