#!/bin/sh
# scripts/demo.sh — the main job: installs what is missing, builds nodec,
# makes the spiral data from the true dynamics and trains the Neural ODE
# demo on it (torchdiffeq's ode_demo settings: 2000 iterations of RMSprop,
# batches of 20 windows of 10 observations, adjoint gradients).
set -e
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j 2
mkdir -p out
build/nodec solve models/spiral_true.nde --t0 0 --t1 25 --n 1000 -o out/spiral.csv
build/nodec train models/spiral.nde --data out/spiral.csv --save out/spiral.npz \
    --log out/loss.csv --plot out/plots "$@"
echo "parameters: out/spiral.npz, loss log: out/loss.csv, plots: out/plots/"
