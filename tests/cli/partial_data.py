#!/usr/bin/env python3
"""Partial data refused where it cannot be used, with the message that says
what to do (DESIGN.md §7; tools/csv.c, tools/train.c, tools/cli.c):
a custom loss that does not leave missing values out; an unobserved state
with no value to start from; data with no state column at all.  Each exits
1 with its message and writes no parameter file.

    partial_data.py NODEC ROOT TMPDIR
"""
import os
import subprocess
import sys

nodec, root, tmp = sys.argv[1:4]
os.makedirs(tmp, exist_ok=True)
data = os.path.join(root, "data/partial_oscillator.csv")
base = open(os.path.join(root, "models/partial_oscillator.nde")).read()


def model(name, text):
    path = os.path.join(tmp, name + ".nde")
    open(path, "w").write(text)
    return path


def refused(what, args, message):
    out = os.path.join(tmp, "p.npz")
    if os.path.exists(out):
        os.remove(out)
    r = subprocess.run([nodec, *args], capture_output=True, text=True)
    if r.returncode != 1 or message not in r.stderr:
        sys.exit(f"{what}: exit {r.returncode}, stderr:\n{r.stderr}\nexpected exit 1 and '{message}'")
    if os.path.exists(out):
        sys.exit(f"{what}: a parameter file was written")
    print(f"{what}: {r.stderr.strip()}")


custom = model("custom", base + "loss(pred, obs) = sum((pred - obs)^2)\n")
for cmd in ("train", "grad"):
    refused(f"{cmd}, custom loss", [cmd, custom, "--data", data, "--save", os.path.join(tmp, "p.npz")]
            if cmd == "train" else [cmd, custom, "--data", data], "does not leave them out")
nostart = model("nostart", base.replace("state x = 1", "state x").replace("state v = v0", "state v"))
refused("train, no start value", ["train", nostart, "--data", data, "--save", os.path.join(tmp, "p.npz")],
        "has no value for v at its first time")
nocol = os.path.join(tmp, "nocol.csv")
open(nocol, "w").write("t,traj,y\n0,0,1\n1,0,2\n")
refused("train, no state column", ["train", custom.replace("custom", "custom"), "--data", nocol], "unknown column 'y'")
open(nocol, "w").write("t,traj\n0,0\n1,0\n")
refused("train, only t", ["train", os.path.join(root, "models/partial_oscillator.nde"), "--data", nocol],
        "missing column 'x'")
