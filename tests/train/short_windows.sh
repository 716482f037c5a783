#!/bin/sh
# short_windows.sh — trajectories shorter than --window (tools/train.c,
# setup): each of two or more observations is one window of its whole
# length, weighed by its observations like every window; one of a single
# observation is left out; a note says how many of each.
#
#   sh short_windows.sh TRAIN_DRIVER TMPDIR REPO
#
# The data are four irregularly sampled Lotka–Volterra trajectories of 12,
# 5, 3 and 1 observations, solved tightly from the true parameters; every
# observation but the first of the 5-long one is raised by 0.1 in both
# states, and of the 3-long one by 0.2.  Started at the true parameters,
# with every window in the minibatch (--batch 100), the first batch loss is
# then known in closed form: the 12-long trajectory gives 3 windows of 10
# with no error, the short ones one window each, so the mean squared error
# over the 30 + 5 + 3 = 38 observations is (4·0.1² + 2·0.2²)/38 =
# 0.0031578947.  Leaving out the 5-long one would give 0.08/33 = 0.0024,
# the 3-long one 0.04/35 = 0.0011, both (the old behaviour) 0.  Tolerance
# 1e-5 relative: the solves' errors (rtol 1e-7) change it by about 1e-6.
set -u
drv=$1 tmp=$2 repo=$3
rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$drv" lotka_volterra params "$tmp/true.npz" alpha=1.3 beta=0.9 delta=0.8 gamma=2.8 || fail "params"
# traj K: its times (irregular), its initial state, the offset of its later observations
set -- "0|0 0.3 0.45 1.1 1.6 2.05 2.9 3.3 4.15 4.8 5.2 6.7|1,1|0" "1|0 0.7 1.9 2.2 3.6|2,0.5|0.1" \
  "2|0 1.3 1.75|1.5,1.5|0.2" "3|0|0.5,2|0"
echo "traj,t,x,y" >"$tmp/data.csv"
for spec in "$@"; do
  k=${spec%%|*} rest=${spec#*|}
  times=${rest%%|*} rest=${rest#*|}
  z0=${rest%%|*} off=${rest#*|}
  { echo t; for t in $times; do echo "$t"; done; } >"$tmp/t$k.csv"
  "$drv" lotka_volterra solve --params "$tmp/true.npz" --z0 "$z0" --times "$tmp/t$k.csv" --rtol 1e-12 \
    --atol 1e-12 -o "$tmp/s$k.csv" || fail "solve trajectory $k"
  awk -F, -v k="$k" -v d="$off" 'NR > 1 { e = NR > 2 ? d : 0; printf "%s,%s,%.17g,%.17g\n", k, $1, $2 + e, $3 + e }' \
    "$tmp/s$k.csv" >>"$tmp/data.csv"
done
[ "$(wc -l <"$tmp/data.csv")" -eq 22 ] || fail "data: $(wc -l <"$tmp/data.csv") lines, want 22"

"$drv" lotka_volterra train --data "$tmp/data.csv" --params "$tmp/true.npz" --batch 100 --iters 1 \
  --optimizer sgd --lr 1e-12 --log "$tmp/log.csv" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "train"; }
cat "$tmp/err"
grep -q "note: 2 of the 4 trajectories of .*data.csv have fewer than 10 observations (--window); each is used whole" \
  "$tmp/err" || fail "no note on the 2 trajectories shorter than the window"
grep -q "note: 1 of the 4 trajectories of .*data.csv have a single observation and are left out" "$tmp/err" ||
  fail "no note on the trajectory of one observation"
loss=$(awk -F, 'NR == 3 { print $2 }' "$tmp/log.csv")
echo "first batch loss $loss, expected 0.12/38 = 0.0031578947 (relative tolerance 1e-5)"
awk -v l="$loss" 'BEGIN { e = l / (0.12 / 38) - 1; exit !(e < 1e-5 && e > -1e-5) }' ||
  fail "first batch loss $loss is not 0.12/38: a short trajectory is missing or weighed wrongly"

# Every trajectory shorter than the window: trained on whole (before, an error).
awk -F, 'NR == 1 || $1 != 0' "$tmp/data.csv" >"$tmp/short.csv"
"$drv" lotka_volterra train --data "$tmp/short.csv" --params "$tmp/true.npz" --iters 1 --optimizer sgd \
  --lr 1e-12 --log "$tmp/log2.csv" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err"; fail "train on short data"; }
loss=$(awk -F, 'NR == 3 { print $2 }' "$tmp/log2.csv")
echo "only short trajectories: first batch loss $loss, expected 0.12/8 = 0.015"
awk -v l="$loss" 'BEGIN { e = l / (0.12 / 8) - 1; exit !(e < 1e-5 && e > -1e-5) }' || fail "short data: loss $loss"

# Nothing to train on: single observations only.
awk -F, 'NR == 1 || $1 == 3' "$tmp/data.csv" >"$tmp/single.csv"
"$drv" lotka_volterra train --data "$tmp/single.csv" --iters 1 --quiet >"$tmp/out" 2>"$tmp/err" &&
  fail "single observations: training succeeded"
grep -q "single.csv: no trajectory has two observations to train on" "$tmp/err" || fail "message: $(cat "$tmp/err")"
echo "ok"
