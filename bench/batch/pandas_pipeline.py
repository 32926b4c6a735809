"""The pipeline a data scientist would write, the benchmark's anchor:
pandas read_csv, Booster.predict, to_csv of the id and the prediction.
Prints the seconds of each step and the total."""
import sys
import time

import pandas as pd
import xgboost as xgb

model, inp, out = sys.argv[1:4]
t0 = time.perf_counter()
booster = xgb.Booster()
booster.load_model(model)
df = pd.read_csv(inp)
t1 = time.perf_counter()
pred = booster.predict(xgb.DMatrix(df[booster.feature_names]))
t2 = time.perf_counter()
pd.DataFrame({"id": df["id"], "prediction": pred}).to_csv(out, index=False)
t3 = time.perf_counter()
print("read %.3f predict %.3f write %.3f total %.3f" % (t1 - t0, t2 - t1, t3 - t2, t3 - t0))
