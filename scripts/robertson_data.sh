#!/bin/sh
# scripts/robertson_data.sh — makes data/robertson.csv, the observations that
# models/robertson.nde learns: models/robertson_true.nde (k1 = 0.04, k2 = 3e7,
# k3 = 1e4) solved with rodas5p at rtol 1e-10 from t = 0 to 1e5, observed at
# t = 0 and 41 log-spaced times 1e-5, 10^-4.75, …, 1e5 (4 a decade), each
# component times (1 + 0.01·N(0,1)) (1 % multiplicative noise, Box–Muller on
# a fixed LCG, so the file is the same with any awk).  The row at t = 0 is
# the exact initial state (1, 0, 0): training starts each solve from a
# trajectory's first row.
#   usage: scripts/robertson_data.sh [NODEC] [OUT.csv]
set -eu
NODEC=${1:-nodec}
OUT=${2:-data/robertson.csv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk 'BEGIN { print "t"; print 0; for (i = 0; i <= 40; i++) printf "%.17g\n", 10^(-5 + i/4) }' > "$tmp/times.csv"
"$NODEC" solve models/robertson_true.nde --times "$tmp/times.csv" \
    --method rodas5p --rtol 1e-10 --atol 1e-20 -o "$tmp/clean.csv"
awk -F, 'BEGIN { s = 12345 }
function u() { s = (s * 1103515245 + 12345) % 2147483648; return (s + 0.5) / 2147483648 }
function gauss() { return sqrt(-2 * log(u())) * cos(6.283185307179586 * u()) }
NR == 1 { print; next }
NR == 2 { print; next }
{ printf "%.17g", $1; for (i = 2; i <= NF; i++) printf ",%.10g", $i * (1 + 0.01 * gauss()); printf "\n" }' \
    "$tmp/clean.csv" > "$tmp/out.csv"
mv "$tmp/out.csv" "$OUT"
