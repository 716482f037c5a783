#!/usr/bin/env python3
"""summarize.py OUT — the tables of bench/scale/README.md from run.sh's raw
output: OUT/machine.txt and OUT/raw.txt (one line of key=value pairs per
flag set, H and B, written by scale_bench)."""
import os
import sys


def read_rows(path):
    rows = []
    with open(path) as f:
        for line in f:
            kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
            if "H" in kv:
                rows.append(kv)
    return rows


FLAGS = {"O2": "O2", "cc-own": "cc-own", "cc": "cc (BLAS)", "O3native": "-O3 -march=native"}


def num(r, k):
    return float(r.get(k, "nan"))


def main():
    out = sys.argv[1]
    with open(os.path.join(out, "machine.txt")) as f:
        print("".join("    " + l for l in f))
    rows = read_rows(os.path.join(out, "raw.txt"))
    if not rows:
        print("no results")
        return
    r0 = rows[0]
    print(
        "Per gradient: %s forward f, %s backward f+VJP (%s), so %s f-equivalents of FLOPs "
        "(the VJP counts 2).\n"
        % (
            r0["f_evals_fwd"],
            r0["vjp_evals"],
            "fused f_vjp" if r0["fused"] == "1" else "f then vjp",
            int(r0["f_evals_fwd"]) + int(r0["f_evals_bwd"]) + 2 * int(r0["vjp_evals"]),
        )
    )

    print("### One adjoint gradient (ms: thread CPU time; GFLOP/s and the ratios from it)\n")
    print(
        "| H | B | cc flags | GFLOP | ms, median (min–max) | wall ms | GFLOP/s "
        "| dgemm mix, 1 thread GFLOP/s | nodec ÷ dgemm 1T | dgemm mix, 2 threads GFLOP/s "
        "| nodec ÷ dgemm 2T | nodec 2 threads: wall ms | 1→2 speed-up: wall; 1T CPU ÷ caller's CPU | same bits | load |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        g = num(r, "gflop")
        d1, d2 = num(r, "dgemm1_mix_gflops"), num(r, "dgemm2_mix_gflops")
        if r["skipped"] == "1":
            pred = num(r, "pred_s")
            rate = g / pred
            t = "skipped: ≈ %.0f s predicted" % pred
            w = "–"
            rs = "(≈ %.2f)" % rate
            q1, q2 = "(%.1f %%)" % (100 * rate / d1), "(%.1f %%)" % (100 * rate / d2)
            w2 = sp = same = "–"
        else:
            ms = num(r, "cpu_ms")
            rate = g / (ms / 1e3)
            t = "%s (%s–%s) ×%s" % (fmt_ms(ms), fmt_ms(num(r, "cpu_ms_min")), fmt_ms(num(r, "cpu_ms_max")), r["reps"])
            w = fmt_ms(num(r, "wall_ms"))
            rs = "%.2f" % rate
            q1, q2 = "%.1f %%" % (100 * rate / d1), "%.1f %%" % (100 * rate / d2)
            if "wall2_ms" in r:
                w2 = fmt_ms(num(r, "wall2_ms"))
                sp = "%.2f× (%s thr)" % (num(r, "speedup2"), r["threads2"])
                if "cpu2_ms" in r:
                    sp += "; CPU %.2f×" % (num(r, "cpu_ms") / num(r, "cpu2_ms"))
                same = "yes" if r["same_bits"] == "1" else "**NO**"
            else:
                w2 = sp = same = "–"
        print(
            "| %s | %s | %s | %s | %s | %s | %s | %.1f | %s | %.1f | %s | %s | %s | %s | %s–%s |"
            % (r["H"], r["B"], FLAGS.get(r["flags"], r["flags"]), "%.0f" % g if g >= 100 else "%.3g" % g, t, w, rs, d1, q1, d2, q2, w2, sp, same, r["load0"], r["load1"])
        )

    print("\n### The kernels alone, and dgemm GFLOP/s (thread CPU time; 2-thread dgemm: wall time)\n")
    print(
        "| H | B | cc flags | f ms | f GFLOP/s | f_vjp ms | f_vjp GFLOP/s | kernels ÷ gradient "
        "| dgemm f-set 1T | dgemm VJP-set 1T | dgemm B×H·H×H 1T | 2T | 2T ÷ 1T (mix) |"
    )
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        share = "–" if r["skipped"] == "1" else "%.0f %%" % (100 * num(r, "pred_s") * 1e3 / num(r, "cpu_ms"))
        print(
            "| %s | %s | %s | %s | %.2f | %s | %.2f | %s | %.1f | %.1f | %.1f | %.1f | %.2f |"
            % (
                r["H"],
                r["B"],
                FLAGS.get(r["flags"], r["flags"]),
                fmt_ms(num(r, "f_ms")),
                num(r, "f_gflops"),
                fmt_ms(num(r, "fvjp_ms")),
                num(r, "fvjp_gflops"),
                share,
                num(r, "dgemm1_f_gflops"),
                num(r, "dgemm1_vjp_gflops"),
                num(r, "dgemm1_big_gflops"),
                num(r, "dgemm2_big_gflops"),
                num(r, "dgemm2_mix_gflops") / num(r, "dgemm1_mix_gflops"),
            )
        )


def fmt_ms(ms):
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    if ms >= 1:
        return "%.2f" % ms
    return "%.3f" % ms


if __name__ == "__main__":
    main()
