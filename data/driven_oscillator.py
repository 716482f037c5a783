#!/usr/bin/env python3
"""data/driven_oscillator.py — writes data/driven_oscillator.csv, the data of
models/driven_oscillator.nde: a damped oscillator driven by a measured
force F(t), a different one in each trajectory.

Eight trajectories over t in [0, 10], a row every 0.25.  Trajectory j's
force is a sum of three sines with random amplitudes, frequencies in
[0.3, 2.5] rad/s and phases; the column F holds its value at each row (the
model interpolates it, `input F = cubic`).  The states follow
    x' = v,   v' = -2 zeta omega v - omega^2 x + g F(t)
with omega = 1.7, zeta = 0.12, g = 2.0 (the values training recovers), from
x0 uniform in [-1, 1] and v0 = 0, integrated by RK4 with steps of 1e-3 on
the exact force; x and v get Gaussian noise of 0.01.  Deterministic:
Python's own generator seeded with 7 (no NumPy).

    python3 data/driven_oscillator.py > data/driven_oscillator.csv
"""
import math
import random

OMEGA, ZETA, G = 1.7, 0.12, 2.0
NTRAJ, T1, DT, H, NOISE, SEED = 8, 10.0, 0.25, 1e-3, 0.01, 7

rng = random.Random(SEED)
print("traj,t,x,v,F")
for j in range(NTRAJ):
    waves = [(rng.uniform(0.3, 1.0), rng.uniform(0.3, 2.5), rng.uniform(0, 2 * math.pi)) for _ in range(3)]

    def force(t):
        return sum(a * math.sin(w * t + p) for a, w, p in waves)

    def rhs(t, y):
        x, v = y
        return (v, -2 * ZETA * OMEGA * v - OMEGA ** 2 * x + G * force(t))

    y, t = (rng.uniform(-1, 1), 0.0), 0.0
    nrow = int(round(T1 / DT)) + 1
    per = int(round(DT / H))
    for r in range(nrow):
        print("%d,%.17g,%.17g,%.17g,%.17g" % (j, r * DT, y[0] + rng.gauss(0, NOISE), y[1] + rng.gauss(0, NOISE),
                                               force(r * DT)))
        for _ in range(per):
            k1 = rhs(t, y)
            k2 = rhs(t + H / 2, tuple(a + H / 2 * b for a, b in zip(y, k1)))
            k3 = rhs(t + H / 2, tuple(a + H / 2 * b for a, b in zip(y, k2)))
            k4 = rhs(t + H, tuple(a + H * b for a, b in zip(y, k3)))
            y = tuple(a + H / 6 * (b + 2 * c + 2 * d + e) for a, b, c, d, e in zip(y, k1, k2, k3, k4))
            t += H
