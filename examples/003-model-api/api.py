"""The seed's model API: POST /predict with the 13 named features as a
JSON object answers {"prediction": <float>}. Flask from Debian
(python3-flask); the model comes from train.py."""
import pickle
import socket

from flask import Flask, jsonify, request

with open("model.pkl", "rb") as f:
    saved = pickle.load(f)
FEATURES, MODEL = saved["features"], saved["model"]

app = Flask(__name__)


@app.after_request
def served_by(response):
    # Which replica answered: shows a Service spreading requests.
    response.headers["X-Served-By"] = socket.gethostname()
    return response


@app.route("/predict", methods=["POST"])
def predict():
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return jsonify(error="send a JSON object of the features %s" % ", ".join(FEATURES)), 400
    missing = [name for name in FEATURES if name not in body]
    if missing:
        return jsonify(error="missing features: %s" % ", ".join(missing)), 400
    try:
        row = [[float(body[name]) for name in FEATURES]]
    except (TypeError, ValueError):
        return jsonify(error="every feature must be a number"), 400
    return jsonify(prediction=float(MODEL.predict(row)[0]))


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
