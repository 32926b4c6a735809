"""Fit the model the seed's API serves, and save it as model.pkl here.

The seed trained on the Boston housing data, which scikit-learn no longer
ships (1.2 removed it) and which cannot be downloaded here. So the model is
fitted on generated data with the same 13 feature names, so that the seed's
request works unchanged. The data is deterministic (seeded).
"""
import os
import pickle

import numpy as np
from sklearn.linear_model import LinearRegression

FEATURES = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO", "B", "LSTAT"]

rng = np.random.default_rng(0)
X = rng.uniform(0, 1, size=(500, len(FEATURES))) * [20, 100, 30, 1, 1, 9, 100, 12, 24, 700, 22, 400, 38]
# A price that falls with crime, pollution and LSTAT and rises with rooms.
y = 36 - 0.1 * X[:, 0] - 17 * X[:, 4] + 3.8 * X[:, 5] - 0.5 * X[:, 12] + rng.normal(0, 1, 500)
model = LinearRegression().fit(X, y)

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "model.pkl"), "wb") as f:
    pickle.dump({"features": FEATURES, "model": model}, f)
print("trained on %d rows, R^2 %.3f" % (len(X), model.score(X, y)))
