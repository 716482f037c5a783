#!/usr/bin/env python3
"""models/fisher_kpp.nde (600 states, stiff): `auto` solves it on kvaerno4's
GMRES path (no dense Jacobian) within 1e-5 of dopri5 at rtol 1e-10, and its
checkpoint gradient (the backward pass on GMRES too) agrees with dopri5's
checkpoint gradient within 1e-5 relative, for logD, k and the learned start z0.

    fisher_kpp.py NODEC ROOT TMPDIR BACKEND
"""
import csv
import json
import os
import subprocess
import sys

nodec, root, tmp, backend = sys.argv[1:5]
os.makedirs(tmp, exist_ok=True)
model = os.path.join(root, "models/fisher_kpp.nde")


def run(*args):
    r = subprocess.run([nodec, *args, "--backend", backend], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nodec {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return r.stdout


def rows(path):
    with open(path) as f:
        return [[float(x) for x in row] for row in list(csv.reader(f))[1:]]


grid = ["--t1", "2", "--n", "5"]
run("solve", model, "--method", "auto", "--rtol", "1e-7", "--atol", "1e-10", *grid, "-o", f"{tmp}/auto.csv")
run("solve", model, "--method", "dopri5", "--rtol", "1e-10", "--atol", "1e-12", *grid, "--max-steps", "10000000",
    "-o", f"{tmp}/ref.csv")
a, b = rows(f"{tmp}/auto.csv"), rows(f"{tmp}/ref.csv")
err = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
print(f"solve: auto (GMRES) vs dopri5 at 1e-10: {err:.2e}")
if not (len(a) == 5 and len(a[0]) == 601 and err < 1e-5):
    sys.exit(f"auto's solution is {err:g} from dopri5's")

# data: the reference solution, moved smoothly (so that θ's gradient is not small)
with open(f"{tmp}/ref.csv") as f, open(f"{tmp}/data.csv", "w") as g:
    lines = f.read().splitlines()
    g.write(lines[0] + "\n")
    for i, line in enumerate(lines[1:]):
        v = [float(x) for x in line.split(",")]
        g.write(",".join(["%.17g" % v[0]] + ["%.17g" % (1.03 * x + 0.01 * i) for x in v[1:]]) + "\n")
ga = json.loads(run("grad", model, "--data", f"{tmp}/data.csv", "--method", "auto", "--rtol", "1e-9", "--atol",
                    "1e-11"))
gr = json.loads(run("grad", model, "--data", f"{tmp}/data.csv", "--method", "dopri5", "--mode", "checkpoint",
                    "--rtol", "1e-11", "--atol",
                    "1e-12", "--max-steps", "10000000"))
va = [ga["grad"]["logD"], ga["grad"]["k"]] + ga["grad"]["z0"]
vr = [gr["grad"]["logD"], gr["grad"]["k"]] + gr["grad"]["z0"]
scale = max(abs(x) for x in vr)
e = max(abs(x - y) for x, y in zip(va, vr)) / scale
print(f"grad: auto (checkpoint on GMRES, mode {ga['stats']['mode']}) vs dopri5's checkpoint: {e:.2e} of the largest "
      f"({va[0]:.10g}, {va[1]:.10g} vs {vr[0]:.10g}, {vr[1]:.10g}); steps {ga['stats']['forward']['steps']} vs "
      f"{gr['stats']['forward']['steps']}")
if not (ga["stats"]["mode"] == "checkpoint" and min(abs(vr[0]), abs(vr[1])) > 1e-4 * scale and e < 1e-5):
    sys.exit(f"the gradients differ by {e:g} of the largest")
