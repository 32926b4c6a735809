"""A real client of skiff serve-model: Python's urllib, as a data scientist
would call it. It checks the answers against the pickled scikit-learn model
the served export came from.

  python3 client.py BASE_URL MODEL.pkl
"""
import json
import pickle
import sys
import urllib.error
import urllib.request

base, pkl = sys.argv[1], sys.argv[2]
with open(pkl, "rb") as f:
    saved = pickle.load(f)
features, model = saved["features"], saved["model"]
rows = [[(i + 1) * (j + 1) % 17 + 0.25 * i for j in range(len(features))] for i in range(5)]
expected = model.predict(rows)


def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def close(a, b):
    return abs(a - b) <= 1e-6 * max(abs(a), abs(b), 1e-12)


# The seed's client call, unchanged: a JSON object of named features.
status, body = post("/predict", dict(zip(features, rows[0])))
assert status == 200 and close(body["prediction"], expected[0]), (status, body, expected[0])

# Open Inference Protocol v2, one [rows, features] tensor.
status, body = post("/v2/models/housing/infer", {"inputs": [{"name": "input-0", "shape": [5, len(features)], "datatype": "FP64", "data": rows}]})
assert status == 200, body
got = body["outputs"][0]["data"]
assert all(close(g, e) for g, e in zip(got, expected)), (got, expected)

# KServe v1.
status, body = post("/v1/models/housing:predict", {"instances": rows})
assert status == 200 and all(close(g, e) for g, e in zip(body["predictions"], expected)), body

# Errors name the problem.
status, body = post("/predict", {"CRIM": 1})
assert status == 400 and "missing features: ZN" in body["error"], (status, body)
status, body = post("/v2/models/housing/infer", {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]})
assert status == 400 and "rows of 13 features" in body["error"], (status, body)
print("ok: %d rows agree" % len(rows))
