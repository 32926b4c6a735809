"""Makes the batch benchmark's inputs: a CSV of N rows of an id and the
13 Boston-housing features (values drawn around the seed's ranges), and a
100-tree XGBoost regressor trained on part of it, saved as model.json with
its feature names."""
import sys

import numpy as np
import pandas as pd
import xgboost as xgb

out, rows = sys.argv[1], int(sys.argv[2])
names = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT"]
rng = np.random.default_rng(0)
scale = np.array([9, 23, 7, 0.3, 0.12, 0.7, 28, 2.1, 8.7, 168, 2.2, 91, 7.1])
center = np.array([3.6, 11, 11, 0.07, 0.55, 6.3, 69, 3.8, 9.5, 408, 18.5, 357, 12.7])
X = np.round(center + scale * rng.standard_normal((rows, len(names))), 4)
y = 36 - 0.1 * X[:, 0] + 4 * X[:, 5] - 0.5 * X[:, 12] - 1.5 * X[:, 10] + rng.standard_normal(rows)
df = pd.DataFrame(X, columns=names)
df.insert(0, "id", np.arange(rows))
df.to_csv(out + "/in.csv", index=False)
booster = xgb.train({"max_depth": 6, "eta": 0.1, "seed": 1}, xgb.DMatrix(df[names][:50000], label=y[:50000], feature_names=names), num_boost_round=100)
booster.save_model(out + "/model.json")
