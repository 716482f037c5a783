#!/usr/bin/env python3
"""A state that starts from a param (`state z = z0`, models/learned_start.nde):
dL/dθ for z0 is the sum of the trajectories' dL/dz0 (1e-12), the same in the
adjoint and the direct gradient (1e-7 relative) and on both backends (1e-10),
at parameters a few training steps in.

    learned_start.py NODEC ROOT TMPDIR BACKENDS...
"""
import json
import os
import subprocess
import sys

nodec, root, tmp = sys.argv[1:4]
backends = sys.argv[4:]
os.makedirs(tmp, exist_ok=True)
model = os.path.join(root, "models/learned_start.nde")
data = os.path.join(root, "data/learned_start.csv")
params = os.path.join(tmp, "p.npz")


def run(*args):
    r = subprocess.run([nodec, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nodec {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


run("train", model, "--data", data, "--window", "0", "--iters", "5", "--lr", "0.1", "--save", params, "--quiet",
    "--backend", "cc")
grads = {}
for backend in backends:
    for mode in ("adjoint", "direct"):
        out = run("grad", model, "--data", data, "--params", params, "--backend", backend, "--mode", mode,
                  "--rtol", "1e-10", "--atol", "1e-10")
        grads[backend, mode] = json.loads(out)


def close(a, b, tol, what):
    for x, y in zip(a, b):
        if abs(x - y) > tol * max(abs(x), abs(y), 1e-300):
            sys.exit(f"{what}: {a} vs {b} (tolerance {tol:g} relative)")


g = grads["cc", "adjoint"]
z0 = g["grad"]["z0"]
if max(abs(v) for v in z0) < 1e-3:
    sys.exit(f"dL/dz0 is {z0}: the test would compare nothing")
summed = [sum(row[i] for row in g["dL_dz0"]) for i in range(2)]
close(z0, summed, 1e-12, "dL/dθ[z0] against the summed dL/dz0")
flat = lambda g: g["grad"]["z0"] + [g["grad"]["logw"], g["grad"]["c"]]
close(flat(g), flat(grads["cc", "direct"]), 1e-7, "adjoint against direct")
for backend in backends[1:]:
    close(flat(g), flat(grads[backend, "adjoint"]), 1e-10, f"cc against {backend}")
print(f"dL/dθ = {flat(g)}: the summed dL/dz0, adjoint = direct, on {', '.join(backends)}")
