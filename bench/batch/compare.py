"""Checks skiff's output against the pandas pipeline's: same ids, in the
same order, predictions equal to 1e-6 (relative)."""
import sys

import numpy as np
import pandas as pd

a, b = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
assert list(a["id"]) == list(b["id"]), "ids differ"
diff = np.abs(a["prediction"].to_numpy() - b["prediction"].to_numpy()) / np.maximum(1, np.abs(b["prediction"].to_numpy()))
print("rows %d, max relative difference %.2e" % (len(a), diff.max()))
sys.exit(0 if diff.max() <= 1e-6 else 1)
