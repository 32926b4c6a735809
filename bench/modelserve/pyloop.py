"""In-process Python prediction of one row in a loop, no server: XGBoost's
Booster.predict (with the DMatrix a server builds per request) and the seed
model's predict.

  python3 pyloop.py OUT SECONDS
"""
import pickle
import sys
import time

import numpy as np
import xgboost as xgb

out, seconds = sys.argv[1], float(sys.argv[2])
row = np.array([[float(v) for v in open(out + "/row.txt").read().split(",")]])
booster = xgb.Booster()
booster.load_model(out + "/boost.json")
with open(out + "/seed/model.pkl", "rb") as f:
    seed = pickle.load(f)["model"]


def loop(name, fn):
    fn()
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        lat.append(time.perf_counter() - t0)
    lat.sort()
    print("%-34s c=1  requests=%-7d req/s=%-9.0f p50_us=%-7.0f p99_us=%.0f" % (
        name, len(lat), len(lat) / seconds, lat[len(lat) // 2] * 1e6, lat[int(0.99 * (len(lat) - 1))] * 1e6))


loop("python booster.predict (xgb)", lambda: booster.predict(xgb.DMatrix(row)))
loop("python model.predict (seed)", lambda: seed.predict(row))
