"""Batch inference: score $MODEL_DIR/batch.csv with the trained model.

Writes predictions.csv beside it and prints a one-line JSON summary.
"""
import json
import os
import pickle

import numpy as np

model_dir = os.environ.get("MODEL_DIR", "/models")
with open(os.path.join(model_dir, "model.pkl"), "rb") as f:
    model = pickle.load(f)
batch = np.loadtxt(os.path.join(model_dir, "batch.csv"), delimiter=",")
predictions = model.predict(batch)
np.savetxt(os.path.join(model_dir, "predictions.csv"), predictions, delimiter=",", fmt="%.4f")
print(json.dumps({"rows": len(predictions), "mean_prediction": round(float(predictions.mean()), 2)}))
