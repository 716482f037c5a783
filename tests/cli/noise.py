#!/usr/bin/env python3
"""Noises (`noise e[k] = normal | rademacher`, DESIGN.md §7), through nodec
solve over 4000 trajectories from one start (tests/cli/noise_hutchinson.nde):
- Hutchinson's estimator -dot(vjp(v, x, e), e) averages to the exact
  -trace(jacobian(v, x)) within 4 standard errors;
- the Rademacher draws are ±1, each sign about half the time; the normal
  draws have mean 0 and variance 1 within 4 standard errors;
- the same --seed gives the same draws, another seed others;
- misuse is refused with its message: an equation for a noise, a noise with
  another distribution, a noise in the loss.

    noise.py NODEC ROOT TMPDIR
"""
import csv
import math
import os
import statistics
import subprocess
import sys

nodec, root, tmp = sys.argv[1:4]
os.makedirs(tmp, exist_ok=True)
model = os.path.join(root, "tests/cli/noise_hutchinson.nde")
z0 = os.path.join(tmp, "z0.csv")
N = 4000
with open(z0, "w") as f:
    f.write("x[0],x[1],exact,hutch\n" + "0.5,-0.3,0,0\n" * N)


def solve(seed):
    out = os.path.join(tmp, f"out{seed}.csv")
    r = subprocess.run([nodec, "solve", model, "--z0-file", z0, "--t1", "1", "--n", "2", "--seed", str(seed), "-o", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nodec solve failed:\n{r.stderr}")
    return [row for row in csv.DictReader(open(out)) if float(row["t"]) == 1.0]


def within(what, values, mean, var=None):
    m, s = statistics.mean(values), statistics.stdev(values)
    if abs(m - mean) > 4 * s / math.sqrt(len(values)):
        sys.exit(f"{what}: mean {m} is not {mean} within 4 standard errors ({s / math.sqrt(len(values)):.3g})")
    if var is not None and abs(s * s - var) > 4 * math.sqrt(2 / len(values)) * var * 1.5:
        sys.exit(f"{what}: variance {s * s} is not {var}")
    return m


rows = solve(1)
exact = float(rows[0]["exact"])
hutch = within("Hutchinson's estimate", [float(r["hutch"]) for r in rows], exact)
signs = [float(r["e[0]"]) for r in rows] + [float(r["e[1]"]) for r in rows]
if set(signs) != {-1.0, 1.0}:
    sys.exit(f"the Rademacher draws are {sorted(set(signs))[:5]}, not ±1")
within("the Rademacher draws", signs, 0.0)
within("the normal draws", [float(r["g"]) for r in rows], 0.0, 1.0)
if [r["hutch"] for r in solve(1)] != [r["hutch"] for r in rows]:
    sys.exit("the same seed gave other draws")
if [r["e[0]"] for r in solve(2)] == [r["e[0]"] for r in rows]:
    sys.exit("another seed gave the same draws")
print(f"exact {exact:.6f}, Hutchinson's mean {hutch:.6f} over {N} trajectories; draws as their laws say")

base = open(model).read()
for name, text, message in (
        ("eq", base + "de/dt = -e\n", "'e' is a noise, not a state"),
        ("dist", base.replace("noise g = normal", "noise g = uniform"), "invalid initializer for noise 'g'"),
        ("loss", base + "loss(pred, obs) = sum(e)\n", "the loss cannot use 'e'")):
    path = os.path.join(tmp, f"bad_{name}.nde")
    open(path, "w").write(text)
    r = subprocess.run([nodec, "emit", path, "-o", os.path.join(tmp, "o")], capture_output=True, text=True)
    if r.returncode != 1 or message not in r.stderr:
        sys.exit(f"{name}: exit {r.returncode}, expected 1 and '{message}':\n{r.stderr}")
print("misuse refused with its message")
