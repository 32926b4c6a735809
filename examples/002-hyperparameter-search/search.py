"""One trial of a hyperparameter search, picked by the Job's index.

An Indexed Job gives each pod JOB_COMPLETION_INDEX (0..completions-1); the
trial scores one regularisation strength with 5-fold cross-validation and
prints one JSON line.
"""
import json
import os

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import cross_val_score

ALPHAS = [0.001, 0.01, 0.03, 0.1, 0.3, 1.0]

index = int(os.environ["JOB_COMPLETION_INDEX"])
alpha = ALPHAS[index]
X, y = load_diabetes(return_X_y=True)
scores = cross_val_score(Ridge(alpha=alpha), X, y, cv=5, scoring="r2")
print(json.dumps({"trial": index, "alpha": alpha, "cv_r2": round(float(scores.mean()), 4)}))
