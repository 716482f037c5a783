#!/bin/sh
# tests/stiff/robertson_fit.sh NODEC SOURCE_DIR TMPDIR — test `stiff.robertson_fit`:
# trains models/robertson.nde on data/robertson.csv (1 % multiplicative noise
# on the true rates k1 = 0.04, k2 = 3e7, k3 = 1e4) with --method auto (stiff,
# so the gradient mode is checkpoint), Adam, lr 0.05, whole trajectory, 300
# iterations (about 1 s), from log-rates off by 0.48, 1.02 and 0.49, and
# asserts that each recovered log-rate is within TOL = 0.03 of the truth
# (rates within 3 %; measured: 0.0042, 0.0045, 0.0066) and that the
# full-trajectory loss ends below 4e-5 (its noise floor is ~3e-5; it starts
# at 0.0177).
set -eu
NODEC=$1
SRC=$2
TMP=$3
TOL=0.03
mkdir -p "$TMP"
"$NODEC" train "$SRC/models/robertson.nde" --data "$SRC/data/robertson.csv" \
    --method auto --optimizer adam --lr 0.05 --window 0 --iters 300 \
    --eval-every 50 --rtol 1e-6 --atol 1e-12 --quiet \
    --save "$TMP/theta.npy" > "$TMP/summary.json"
cat "$TMP/summary.json"
grep -q '"mode": "checkpoint"' "$TMP/summary.json" || { echo "FAIL: mode is not checkpoint"; exit 1; }
loss=$(sed -n 's/.*"full_loss": \([^,]*\),.*/\1/p' "$TMP/summary.json")
# flat θ in a .npy: the last 3 doubles of the file (little-endian float64)
theta=$(tail -c 24 "$TMP/theta.npy" | od -A n -t f8 -v | tr -s " \n" "  ")
echo "$theta $loss" | awk -v tol=$TOL '
{
    split("logk1 logk2 logk3", name, " ")
    truth[1] = log(0.04); truth[2] = log(3e7); truth[3] = log(1e4)
    bad = 0
    for (i = 1; i <= 3; i++) {
        err = $i - truth[i]; if (err < 0) err = -err
        printf "%s: recovered %.6f, true %.6f, |error| %.4f (rate off by %.2f %%)%s\n",
               name[i], $i, truth[i], err, 100 * (exp($i - truth[i]) - 1), err <= tol ? "" : "  FAIL"
        if (!(err <= tol)) bad = 1
    }
    printf "full-trajectory loss %g%s\n", $4, $4 < 4e-5 ? "" : "  FAIL (want < 4e-5)"
    if (!($4 < 4e-5)) bad = 1
    exit bad
}'
