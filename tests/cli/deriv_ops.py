#!/usr/bin/env python3
"""The derivative operators jacobian, jvp, vjp, trace and diag (DESIGN.md §7).

tests/cli/deriv_ops.nde computes each quantity twice, once through the
operators and once written out by hand; solved on the given backend, the
pairs of states (logp, q) and (r, s) must agree within 1e-12 relative at
every output time.  Their VJPs (second derivatives) are checked by `nodec
check` (CTest cli/deriv_ops/check).

    deriv_ops.py NODEC MODEL BACKEND
"""
import subprocess
import sys

nodec, model, backend = sys.argv[1:4]
run = subprocess.run([nodec, "solve", model, "--backend", backend, "--t1", "2", "--n", "5",
                      "--rtol", "1e-12", "--atol", "1e-12"], capture_output=True, text=True)
if run.returncode != 0:
    sys.exit(f"nodec solve failed ({run.returncode}):\n{run.stderr}")
lines = run.stdout.strip().split("\n")
if lines[0] != "t,x[0],x[1],logp,q,r,s":
    sys.exit(f"unexpected header: {lines[0]}")
rows = [[float(v) for v in line.split(",")] for line in lines[1:]]
if len(rows) != 5:
    sys.exit(f"expected 5 rows, got {len(rows)}")
worst = 0.0
for row in rows:
    for i, j in ((3, 4), (5, 6)):
        rel = abs(row[i] - row[j]) / max(1.0, abs(row[j]))
        worst = max(worst, rel)
        if rel > 1e-12:
            sys.exit(f"columns {i} and {j} differ at t = {row[0]}: {row[i]!r} vs {row[j]!r} (rel {rel:.2g})")
if abs(rows[-1][3]) < 0.1 or abs(rows[-1][5]) < 0.1:
    sys.exit(f"the operators' states barely move ({rows[-1]}): the test would compare nothing")
print(f"{backend}: logp = q and r = s at {len(rows)} times, worst relative difference {worst:.2g}")
