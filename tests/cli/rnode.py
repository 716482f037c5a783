#!/usr/bin/env python3
"""RNODE's regularizers from a model file (models/rnode.nde): the kinetic
energy and the Jacobian's Frobenius norm integrated in a state r that no
data column observes, added to the loss with observed() and or_zero().
Trained on the spiral data with lambda = 0.01 and with lambda = 0 (same
seed, 300 iterations): the regularized flow's integral r over the data's
25 time units must be less than half the unregularized one's (measured:
105 against 381).

    rnode.py NODEC ROOT TMPDIR
"""
import os
import subprocess
import sys

nodec, root, tmp = sys.argv[1:4]
os.makedirs(tmp, exist_ok=True)
data = os.path.join(root, "data/spiral.csv")
text = open(os.path.join(root, "models/rnode.nde")).read()
if "const lambda = 0.01" not in text:
    sys.exit("models/rnode.nde no longer sets lambda = 0.01")
r_end = {}
for lam in ("0.01", "0"):
    model = os.path.join(tmp, f"rnode_{lam}.nde")
    open(model, "w").write(text.replace("const lambda = 0.01", f"const lambda = {lam}"))
    params = os.path.join(tmp, f"p_{lam}.npz")
    for args in (["train", model, "--data", data, "--iters", "300", "--seed", "1", "--save", params, "--quiet"],
                 ["solve", model, "--params", params, "--t1", "25", "--n", "2"]):
        r = subprocess.run([nodec, *args], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"nodec {args[0]} (lambda {lam}) failed:\n{r.stderr}")
    r_end[lam] = float(r.stdout.strip().split("\n")[-1].split(",")[3])
print(f"r(25): {r_end['0.01']:.4g} with lambda = 0.01, {r_end['0']:.4g} without")
if not r_end["0.01"] < 0.5 * r_end["0"]:
    sys.exit("the regularizer did not make the flow simpler")
