#!/usr/bin/env python3
"""Mutation fuzzing of the compiler: random edits of the example and test
models (deletions, duplications, moved spans, inserted tokens) must give
either code (exit 0) or diagnostics (exit 1) — never a crash, a sanitizer
report, an internal compiler error or a hang.  Every tenth mutant that
compiles is also put through `nodec check`, whose derivatives must agree
with finite differences (or whose f is not finite at the sampled points).

    mutants.py NODEC REPO_ROOT WORK_DIR [SEED] [COUNT]
"""
import glob, os, random, subprocess, sys

nodec, root, work = sys.argv[1], sys.argv[2], sys.argv[3]
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
count = int(sys.argv[5]) if len(sys.argv) > 5 else 300
random.seed(seed)
os.makedirs(work, exist_ok=True)
seeds = [open(f, encoding='utf-8').read()
         for pat in ('models/*.nde', 'tests/emit/*.nde', 'tests/deriv/*.nde', 'tests/parse/*.nde')
         for f in sorted(glob.glob(os.path.join(root, pat)))]
tokens = ['(', ')', '[', ']', ',', ':', ';', '\n', '+', '-', '*', '/', '^', '@', "'", '=', '0', '1', '2',
          '-1', '1e9', '0.5', 'z', 'x', 't', 'W', 'tanh(', 'sum(', 'concat(', 'dot(', 'outer(', 'state ',
          'param ', 'const ', 'let ', 'loss(', 'dz/dt = ', '[[1,2],[3,4]]', 'z[0]', 'z[1:]', "W'", 'glorot',
          'mean(']
problems = accepted = checked = 0
for it in range(count):
    s = random.choice(seeds)
    for _ in range(random.randint(1, 4)):
        i = random.randrange(len(s) + 1)
        j = min(len(s), i + random.randint(0, 12))
        op = random.random()
        if op < 0.3:
            s = s[:i] + s[j:]
        elif op < 0.6:
            s = s[:i] + random.choice(tokens) + s[i:]
        elif op < 0.8:
            s = s[:i] + s[i:j] * random.randint(2, 3) + s[j:]
        else:
            k = random.randrange(len(s) + 1)
            s = s[:k] + s[i:j] + s[k:]
    path = os.path.join(work, 'm.nde')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(s)
    try:
        r = subprocess.run([nodec, 'emit', 'm.nde', '-o', 'out'], cwd=work, capture_output=True, text=True,
                           timeout=30, errors='replace')
    except subprocess.TimeoutExpired:
        r = None
    if r is None or r.returncode not in (0, 1) or 'Sanitizer' in r.stderr or 'runtime error' in r.stderr \
            or 'internal compiler error' in r.stderr:
        problems += 1
        keep = os.path.join(work, f'problem{it}.nde')
        with open(keep, 'w', encoding='utf-8') as f:
            f.write(s)
        print(f'mutant {it}: ' + ('hangs' if r is None else f'exit {r.returncode}\n{r.stderr[-800:]}') + f'\n  kept in {keep}')
        continue
    if r.returncode == 0:
        accepted += 1
        if accepted % 10 == 0:
            checked += 1
            c = subprocess.run([nodec, 'check', 'm.nde', '--backend', 'cc'], cwd=work, capture_output=True,
                               text=True, timeout=120, errors='replace')
            if c.returncode != 0 and 'not finite' not in c.stdout:
                problems += 1
                keep = os.path.join(work, f'check{it}.nde')
                with open(keep, 'w', encoding='utf-8') as f:
                    f.write(s)
                print(f'mutant {it}: nodec check failed\n{c.stdout[-800:]}{c.stderr[-800:]}\n  kept in {keep}')
print(f'seed {seed}: {count} mutants, {accepted} compiled, {checked} checked')
print(f'{count - problems} passed, {problems} failed')
sys.exit(1 if problems else 0)
