"""One trial of a hyperparameter search: an elastic net on the diabetes
data, scored by 5-fold cross-validation, with the parameters the
Experiment gives on the command line. It prints the score as Katib's
collector reads it (name=value), once per fold and then the mean, so the
search also sees intermediate values.
"""
import argparse

from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet
from sklearn.model_selection import KFold, cross_val_score

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, required=True)
parser.add_argument("--l1-ratio", type=float, default=0.5)
args = parser.parse_args()

X, y = load_diabetes(return_X_y=True)
folds = KFold(n_splits=5, shuffle=True, random_state=0)
scores = cross_val_score(ElasticNet(alpha=args.alpha, l1_ratio=args.l1_ratio, max_iter=10000), X, y, cv=folds, scoring="r2")
for step, _ in enumerate(scores, start=1):
    print("step=%d cv_r2=%.4f" % (step, scores[:step].mean()))
print("alpha=%g l1_ratio=%g cv_r2=%.4f" % (args.alpha, args.l1_ratio, scores.mean()))
