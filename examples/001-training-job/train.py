"""Fit a ridge regression on scikit-learn's bundled diabetes data.

Writes the model and a held-out batch (for the batch-inference CronJob) to
$MODEL_DIR, and prints its metrics as one JSON line.
"""
import json
import os
import pickle

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

model_dir = os.environ.get("MODEL_DIR", "/models")
alpha = float(os.environ.get("ALPHA", "0.1"))

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
model = Ridge(alpha=alpha).fit(X_train, y_train)
score = r2_score(y_test, model.predict(X_test))

with open(os.path.join(model_dir, "model.pkl"), "wb") as f:
    pickle.dump(model, f)
np.savetxt(os.path.join(model_dir, "batch.csv"), X_test, delimiter=",")
print(json.dumps({"alpha": alpha, "r2": round(score, 4), "train_rows": len(X_train)}))
