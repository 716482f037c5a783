#!/usr/bin/env python3
"""data/two_moons.py — writes data/two_moons.csv, the toy density of the
FFJORD example (models/ffjord.nde, docs/training.md "Densities").

scikit-learn's make_moons (two interleaved half circles, Gaussian noise 0.1)
as FFJORD's toy_data.py scales it, x·2 + (−1, −0.2), so that the points
spread about the origin like a standard normal.  512 points, deterministic:
Python's own generator seeded with 12 (no NumPy), 17 significant digits.

    python3 data/two_moons.py > data/two_moons.csv
"""
import math
import random

N, NOISE, SEED = 512, 0.1, 12

rng = random.Random(SEED)
print("x[0],x[1]")
for i in range(N):
    s = rng.random() * math.pi
    if i % 2 == 0:  # the upper moon
        a, b = math.cos(s), math.sin(s)
    else:  # the lower one, shifted
        a, b = 1 - math.cos(s), 0.5 - math.sin(s)
    a += rng.gauss(0, NOISE)
    b += rng.gauss(0, NOISE)
    print("%.17g,%.17g" % (2 * a - 1, 2 * b - 0.2))
