#!/usr/bin/env python3
"""data/neural_cde.py — writes data/neural_cde.csv, the task of
models/neural_cde.nde: read a sine wave's frequency off an irregularly
sampled, noisy recording of it.

256 trajectories on the grid t = 0, 0.2, …, 6 (31 rows).  Trajectory j
records x(t) = sin(w t + p) + noise (Gaussian, 0.02), w uniform in [1, 3]
and p in [0, 2 pi), but keeps each value with probability 1/2 only: the
other cells of x are empty, so every trajectory is sampled at its own
irregular times (the model interpolates x through the values it has).
The target y = w - 2 is in the last row; y's other cells are empty
(missing: the loss is the error at the end alone).  Deterministic: Python's
own generator seeded with 5 (no NumPy).

    python3 data/neural_cde.py > data/neural_cde.csv
"""
import math
import random

NTRAJ, NROW, DT, NOISE, KEEP, SEED = 256, 31, 0.2, 0.02, 0.5, 5

rng = random.Random(SEED)
print("traj,t,x,y")
for j in range(NTRAJ):
    w, p = rng.uniform(1, 3), rng.uniform(0, 2 * math.pi)
    for r in range(NROW):
        t = r * DT
        x = math.sin(w * t + p) + rng.gauss(0, NOISE)
        keep = rng.random() < KEEP
        print("%d,%.17g,%s,%s" % (j, t, "%.17g" % x if keep else "", "%.17g" % (w - 2) if r == NROW - 1 else ""))
