"""One trial of a search whose best model is registered: an XGBoost
regressor on the diabetes data with the parameters the Experiment gives,
scored on a held-out fifth (rmse=<value>, as Katib's collector reads it)
and saved to the folder skiff gives the trial, $SKIFF_OUTPUT_DIR. The
Experiment registers the best trial's model.json as a new ModelVersion.
"""
import argparse
import os

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_diabetes
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--max-depth", type=int, required=True)
parser.add_argument("--eta", type=float, required=True)
args = parser.parse_args()

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
params = {"max_depth": args.max_depth, "eta": args.eta, "seed": 1}
booster = xgb.train(params, xgb.DMatrix(X_train, label=y_train), num_boost_round=30)
rmse = float(np.sqrt(np.mean((booster.predict(xgb.DMatrix(X_test)) - y_test) ** 2)))
booster.save_model(os.path.join(os.environ["SKIFF_OUTPUT_DIR"], "model.json"))
print("max_depth=%d eta=%g rmse=%.4f" % (args.max_depth, args.eta, rmse))
