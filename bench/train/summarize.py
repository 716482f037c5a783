#!/usr/bin/env python3
"""summarize.py OUT — the tables of bench/train/README.md from run.sh's raw files.

Reference figures (torchdiffeq 0.2.5 + PyTorch 1.13, quoted from the issue,
not measured here): adjoint ~100 ms/iter with 26 forward and 126 backward
function evaluations; direct backprop ~19 ms/iter.
"""
import csv
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1]
TD = {"adjoint": 100.0, "direct": 19.0}  # torchdiffeq ms/iter, from the issue
BACKENDS = ["llvm", "cc"]
MODES = ["adjoint", "checkpoint", "direct"]


def load(path):
    with open(path) as f:
        return json.load(f)


def tfile(path):
    with open(path) as f:
        return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", f.read())}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


machine = open(os.path.join(out, "machine.txt")).read().strip().splitlines()
print("Machine and versions:\n")
for line in machine:
    print("    " + line)
print()

# ---- 1. nodec train ----
runs = [l for l in machine if l.startswith("runs=")]
print("### `nodec train`, %s, no evaluations: median of the runs (min–max)\n" % (runs[0] if runs else "?"))
print("| backend | mode | ms/iter | CPU ms/iter | vs torchdiffeq | fwd steps | bwd steps | fwd f | bwd f | vjp | max RSS MB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
cli_loss = {}
for be in BACKENDS:
    start = os.path.join(out, "start.%s.time" % be)
    st = tfile(start) if os.path.exists(start) else None
    for mode in MODES:
        files = sorted(glob.glob(os.path.join(out, "cli.%s.%s.*.json" % (be, mode))))
        if not files:
            continue
        js = [load(f) for f in files]
        ts = [tfile(f[:-5] + ".time") for f in files]
        ms = [j["ms_per_iter"] for j in js]
        cpu = []
        if st:
            for j, t in zip(js, ts):
                cpu.append(1e3 * ((t["user_s"] + t["sys_s"]) - (st["user_s"] + st["sys_s"])) / j["iters"])
        p = js[0]["per_iter"]
        cli_loss[(be, mode)] = js[0]["batch_loss"]
        ratio = "%.0f×" % (TD[mode] / med(ms)) if mode in TD else "–"
        print("| %s | %s | %.2f (%.2f–%.2f) | %.2f | %s | %.2f | %.2f | %.1f | %.1f | %.1f | %.0f |" % (
            be, mode, med(ms), min(ms), max(ms), med(cpu) if cpu else float("nan"), ratio,
            p["forward_steps"], p["backward_steps"], p["forward_f_evals"], p["backward_f_evals"],
            p["vjp_evals"], med([t["maxrss_kb"] for t in ts]) / 1024))
for be in BACKENDS:
    start = os.path.join(out, "start.%s.time" % be)
    if os.path.exists(start):
        st = tfile(start)
        print("\nStart-up (`--iters 0`, %s): %.0f ms CPU, %.0f MB max RSS." % (
            be, 1e3 * (st["user_s"] + st["sys_s"]), st["maxrss_kb"] / 1024), end="")
print("\n\ntorchdiffeq (issue): adjoint 100 ms/iter, 26 forward + 126 backward evaluations; direct 19 ms/iter.\n")

# ---- 2. train_bench ----
print("### train_bench (runtime + emitted C at -O2 only; the cc backend's code)\n")
print("| mode | f_vjp | ms/iter: median iteration | mean | allocator peak (nodec_get_mem_peak) | max RSS | batch loss = CLI cc |")
print("|---|---|---:|---:|---:|---:|---|")
for name in MODES + ["adjoint-unfused"]:
    files = sorted(glob.glob(os.path.join(out, "drv.%s.*.json" % name)))
    if not files:
        continue
    js = [load(f) for f in files]
    mode = name.split("-")[0]
    same = cli_loss.get(("cc", mode))
    ok = "–" if same is None else ("yes" if all(j["batch_loss"] == same for j in js) else
                                   "NO (%r vs %r)" % (js[0]["batch_loss"], same))
    print("| %s | %s | %.3f | %.3f | %.1f KiB | %.1f MiB | %s |" % (
        mode, "fused" if js[0]["fused_f_vjp"] else "f + vjp", med([j["ms_iter_median"] for j in js]),
        med([j["ms_per_iter"] for j in js]), js[0]["mem_peak_bytes"] / 1024, med([j["maxrss_kb"] for j in js]) / 1024,
        ok))
print()
for name in ["fused", "unfused"]:
    p = os.path.join(out, "timers.%s.json" % name)
    if not os.path.exists(p):
        continue
    k = load(p)["kernels"]
    j = load(p)
    print("Kernel timers, adjoint, %s: %.1f f calls × %.2f µs, %.1f vjp × %.2f µs, %.1f f_vjp × %.2f µs per iteration;"
          " kernels %.3f ms of %.3f ms/iter (%.0f%%)." % (
              "fused f_vjp" if name == "fused" else "f then vjp", k["f_calls"], k["f_us"], k["vjp_calls"], k["vjp_us"],
              k["f_vjp_calls"], k["f_vjp_us"], k["kernel_ms_per_iter"], j["ms_per_iter"], 100 * k["kernel_share"]))
tr = os.path.join(out, "trace.adjoint.csv")
if os.path.exists(tr):
    rows = list(csv.DictReader(open(tr)))
    print("\nEvaluations per iteration along the 2000-iteration adjoint run (train_bench --trace):\n")
    print("| iterations | fwd steps | fwd rejected | bwd steps | fwd f | bwd f | vjp |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for lo, hi in [(1, 20), (1, 300), (300, 1000), (1000, 2000), (1, 2000)]:
        sel = [r for r in rows if lo <= int(r["iter"]) <= hi]
        if not sel:
            continue
        mean = lambda key: sum(float(r[key]) for r in sel) / len(sel)
        print("| %d–%d | %.2f | %.2f | %.2f | %.1f | %.1f | %.1f |" % (
            lo, hi, mean("fwd_steps"), mean("fwd_rejected"), mean("bwd_steps"), mean("fwd_f"), mean("bwd_f"),
            mean("vjp")))
print()

# ---- 3. seminorm ----
p = os.path.join(out, "nosemi.cc.json")
if os.path.exists(p):
    j = load(p)["per_iter"]
    print("Adjoint without the seminorm (`--no-seminorm`, cc): %.2f backward steps, %.1f f + %.1f vjp evaluations, "
          "%.2f ms/iter.\n" % (j["backward_steps"], j["backward_f_evals"], j["vjp_evals"], load(p)["ms_per_iter"]))

# ---- 4. full demo ----
files = [(be, mode, os.path.join(out, "full.%s.%s.json" % (be, mode))) for be in BACKENDS for mode in MODES]
files = [f for f in files if os.path.exists(f[2])]
if files:
    print("### The full demo: 2000 iterations, full-trajectory loss every 20\n")
    print("| backend | mode | final full-trajectory L1 loss | final batch loss | wall s (process) | train wall s | eval s | ms/iter | max RSS MB |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for be, mode, path in files:
        j = load(path)
        t = tfile(path[:-5] + ".time")
        print("| %s | %s | %.4f | %.3g | %.2f | %.2f | %.3f | %.2f | %.0f |" % (
            be, mode, j["full_loss"], j["batch_loss"], t["wall_s"], j["wall_s"], j["eval_s"], j["ms_per_iter"],
            t["maxrss_kb"] / 1024))
    print()

# ---- 5. profile ----
def cg_self(path):
    fn = {}
    total = None
    for line in open(path):
        if "Auto-annotated" in line or "=>" in line:
            break  # only the per-function summary, not annotated sources
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if "PROGRAM TOTALS" in name:
            total = ir
            continue
        f = name.split(" [")[0]
        f = f.split(":")[-1]
        fn[f] = fn.get(f, 0) + ir
    return total, fn


if glob.glob(os.path.join(out, "cg.zero.*.self.txt")):
    print("### Profile: callgrind instructions per iteration (train_bench, start-up and iteration 1 subtracted)\n")
    print("| mode | instr/iter | tanh + expm1 (libm) | model kernels (self) | runtime (RK, norms, dense, tape) | other |")
    print("|---|---:|---:|---:|---:|---:|")
    tops = {}
    for mode in MODES:
        p = os.path.join(out, "cg.%s.self.txt" % mode)
        if not os.path.exists(p):
            continue
        total, fn = cg_self(p)
        z_total, z_fn = cg_self(os.path.join(out, "cg.zero.%s.self.txt" % mode))
        log = open(os.path.join(out, "cg.%s.log" % mode)).read()
        m = re.search(r"train_bench \S+ \S+ (\d+)", log)
        iters = int(m.group(1)) - 1 if m else 29
        d = {k: v - z_fn.get(k, 0) for k, v in fn.items()}
        tot = total - z_total
        libm = sum(v for k, v in d.items() if k in ("tanh", "__expm1_fma", "__expm1", "expm1"))
        kern = sum(v for k, v in d.items() if k.startswith("spiral_"))
        rt = sum(v for k, v in d.items() if k in (
            "trial", "rk_attempt", "rk_take", "rk_norm", "rk_all_finite", "rk_dense_eval", "rk_dense_coefs",
            "rk_ensure_k0", "rk_initial_step", "aug_rhs", "fwd_rhs", "cadj_rhs", "dense_z", "replay", "backsolve",
            "adj_loss_grad", "fwd_solve", "jump", "losses", "nodec_loss_grad", "nodec_optim_step", "mem_alloc",
            "mem_free", "mem_grow", "tape_step", "grow", "calloc", "free", "malloc", "realloc", "memcpy", "memset",
            "__memset_avx2_unaligned_erms", "__memmove_avx_unaligned_erms", "_int_malloc", "_int_free",
            "__libc_calloc", "__libc_free", "__libc_malloc", "__libc_realloc", "rk_dense_weights") or
            k.startswith("vjp_") or k.startswith("direct") or k.startswith("cadj") or k.startswith("rk_"))
        other = tot - libm - kern - rt
        print("| %s | %.2fM | %.0f%% | %.0f%% | %.0f%% | %.0f%% |" % (
            mode, tot / iters / 1e6, 100 * libm / tot, 100 * kern / tot, 100 * rt / tot, 100 * other / tot))
        tops[mode] = (tot, iters, sorted(d.items(), key=lambda kv: -kv[1])[:12])
    for mode, (tot, iters, top) in tops.items():
        print("\nTop functions, %s (self, instructions per iteration):\n" % mode)
        for k, v in top:
            if v > 0.003 * tot:
                print("    %10.0f  %5.1f%%  %s" % (v / iters, 100 * v / tot, k))
    print()
