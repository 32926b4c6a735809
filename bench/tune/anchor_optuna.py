"""Optuna's TPE and random search on the functions of bench/tune (Branin,
Hartmann-6, and with --sklearn the scikit-learn task of sklearn_task.py),
the same budgets and seeds: the anchor for skiff's search quality.
Debian's python3-optuna.

    python3 bench/tune/anchor_optuna.py [seeds] [--sklearn]
"""
import math
import statistics
import sys
import time

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def branin(t):
    x0, x1 = t.suggest_float("x0", -5, 10), t.suggest_float("x1", 0, 15)
    a, b, c, r, s, u = 1.0, 5.1 / (4 * math.pi ** 2), 5 / math.pi, 6.0, 10.0, 1 / (8 * math.pi)
    return a * (x1 - b * x0 ** 2 + c * x0 - r) ** 2 + s * (1 - u) * math.cos(x0) + s


A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann6(t):
    x = [t.suggest_float("x%d" % i, 0, 1) for i in range(6)]
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - P[i][j] * 1e-4) ** 2 for j in range(6))) for i in range(4))


def svr(t):
    import sklearn_task  # beside this file; imports scikit-learn

    return sklearn_task.rmse(t.suggest_float("C", 1e-2, 1e3, log=True), t.suggest_float("gamma", 1e-4, 1, log=True),
                             t.suggest_float("epsilon", 1e-3, 1e2, log=True))


def run(f, sampler, seeds):
    b50, b100 = [], []
    for seed in range(seeds):
        study = optuna.create_study(sampler=sampler(seed))
        best = math.inf
        for n in range(100):
            trial = study.ask()
            v = f(trial)
            study.tell(trial, v)
            best = min(best, v)
            if n == 49:
                b50.append(best)
        b100.append(best)
    return statistics.median(b50), statistics.median(b100)


def latency(n):
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=1))
    study.optimize(hartmann6, n_trials=10)
    rnd = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=9))
    rnd.optimize(hartmann6, n_trials=n - 10)
    for t in rnd.trials:
        study.add_trial(t)
    start = time.perf_counter()
    for _ in range(10):
        trial = study.ask()
        study.tell(trial, hartmann6(trial))
    return (time.perf_counter() - start) / 10


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--sklearn"]
    seeds = int(args[0]) if args else 10
    functions = [("branin", branin), ("hartmann6", hartmann6)]
    if "--sklearn" in sys.argv:
        functions.append(("sklearn", svr))
    print("optuna %s: best value found, median of %d seeds" % (optuna.__version__, seeds))
    print("%-10s %-8s %10s %10s" % ("function", "sampler", "50 trials", "100 trials"))
    for name, f in functions:
        for sname, sampler in (("random", lambda s: optuna.samplers.RandomSampler(seed=s)),
                               ("tpe", lambda s: optuna.samplers.TPESampler(seed=s))):
            a, b = run(f, sampler, seeds)
            print("%-10s %-8s %10.5f %10.5f" % (name, sname, a, b))
    for n in (100, 1000):
        print("tpe suggestion + tell after %d trials: %.1f ms" % (n, latency(n) * 1000))
