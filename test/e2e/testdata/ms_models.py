"""Train the models the ModelService end-to-end test serves, with the real
libraries, and print the rows it sends and the libraries' own predictions
(JSON), so that the test can require the same answers from the cluster.
Data is bundled with scikit-learn; nothing is downloaded.

  python3 ms_models.py OUTDIR
"""
import json
import os
import pickle
import sys

import numpy as np
import xgboost as xgb
from sklearn import datasets, ensemble

out = sys.argv[1]
X, y = datasets.load_diabetes(return_X_y=True)
rows = X[:5]
result = {"rows": rows.tolist()}

# Two versions of an XGBoost regressor: v2 differs, so a rollout shows.
for version, trees in (("v1", 20), ("v2", 40)):
    booster = xgb.train({"max_depth": 3, "eta": 0.3, "seed": 1}, xgb.DMatrix(X, label=y), num_boost_round=trees)
    os.makedirs(os.path.join(out, "xgb-" + version), exist_ok=True)
    booster.save_model(os.path.join(out, "xgb-" + version, "model.json"))
    result["xgb_" + version] = booster.predict(xgb.DMatrix(rows)).astype(float).tolist()

forest = ensemble.RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
with open(os.path.join(out, "forest.pkl"), "wb") as f:
    pickle.dump(forest, f)
result["sklearn"] = forest.predict(rows).astype(float).tolist()
print(json.dumps(result))
