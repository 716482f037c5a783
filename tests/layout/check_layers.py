#!/usr/bin/env python3
"""tests/layout: the tree's layering, checked on the sources and the built
archives (docs/map.md).

  support/   includes only itself
  runtime/   includes only itself; its archive calls no zlib and prints
             nothing; its files call each other without a circle; only
             par.c starts threads (pthread_create), so the one place that
             decides how many there are (docs/runtime.md "Threads")
  compiler/  includes itself, support/ and runtime/nodec_model.h
  tools/     the library part (file csv npy plot cli train) never includes
             the compiler; its archive calls nothing the compiler defines

usage: check_layers.py SRC RUNTIME.a TOOLS.a COMPILER.a
"""
import os, re, subprocess, sys

src, runtime_a, tools_a, compiler_a = sys.argv[1:5]
errors = []

def includes(path):
    return re.findall(r'^\s*#\s*include\s+"([^"]+)"', open(path, encoding='utf-8').read(), re.M)

def files(d, exts=('.c', '.h')):
    return sorted(f for f in os.listdir(os.path.join(src, d)) if f.endswith(exts))

def local(d):
    return set(files(d))

allowed = {
    'support': local('support'),
    'runtime': local('runtime'),
    'compiler': local('compiler') | local('support') | {'nodec_model.h', 'parser.h', 'lexer.h', 'model_h.inc', 'gemm_c.inc'},
}
tools_lib = {'file.c', 'csv.c', 'npy.c', 'plot.c', 'cli.c', 'train.c', 'mpi.c', 'tools.h', 'nodec_tools.h'}
allowed_tools_lib = tools_lib | local('support') | local('runtime')
for d, ok in allowed.items():
    for f in files(d):
        for inc in includes(os.path.join(src, d, f)):
            if inc not in ok:
                errors.append(f'{d}/{f} includes "{inc}", which {d}/ may not use')
for f in sorted(tools_lib):
    for inc in includes(os.path.join(src, 'tools', f)):
        if inc not in allowed_tools_lib:
            errors.append(f'tools/{f} includes "{inc}": the tool library sits below the compiler')

def members(archive):
    """{member: (defined, undefined)} from nm."""
    out = subprocess.run(['nm', '-A', archive], capture_output=True, text=True, check=True).stdout
    m = {}
    for line in out.splitlines():
        mm = re.match(r'^[^:]+:([^:]+):\s*(?:[0-9a-f]+)?\s+([A-Za-z])\s+(\S+)$', line)
        if not mm:
            continue
        obj, kind, sym = mm.groups()
        d, u = m.setdefault(obj, (set(), set()))
        (u if kind == 'U' else d if kind.isupper() else set()).add(sym)
    return m

rt = members(runtime_a)
if len(rt) < 5:
    errors.append(f'{runtime_a}: only {len(rt)} members found by nm')
forbidden = re.compile(r'^(inflate\w*|deflate\w*|crc32|printf|fprintf|vfprintf|puts|fputs|putchar|perror|exit|'
                       r'popen|system|fork|execvp|posix_spawnp?|fopen|getenv)$')
for obj, (d, u) in rt.items():
    for sym in sorted(u):
        if forbidden.match(sym):
            errors.append(f'runtime: {obj} calls {sym}; the core links no zlib, prints nothing, runs nothing')

# Threads (pthread_*) are allowed, but only par.c starts them.
for obj, (d, u) in rt.items():
    if 'pthread_create' in u and not obj.startswith('par.c'):
        errors.append(f'runtime: {obj} starts threads; only par.c may (it keeps to nodec_set_threads)')
if not any('pthread_create' in u for d, u in rt.values()):
    errors.append('runtime: no member calls pthread_create; par.c should')

# The call graph between the runtime's files: no circle.
owner = {sym: obj for obj, (d, u) in rt.items() for sym in d}
edges = {obj: sorted({owner[s] for s in u if s in owner and owner[s] != obj}) for obj, (d, u) in rt.items()}
state = {}
def visit(n, path):
    state[n] = 1
    for m in edges[n]:
        if state.get(m) == 1:
            errors.append('runtime: a call circle: ' + ' -> '.join(path[path.index(m):] + [m]) if m in path
                          else f'runtime: a call circle through {n} -> {m}')
        elif not state.get(m):
            visit(m, path + [m])
    state[n] = 2
for n in edges:
    if not state.get(n):
        visit(n, [n])

comp = members(compiler_a)
comp_defs = {s for d, u in comp.values() for s in d}
for obj, (d, u) in members(tools_a).items():
    for sym in sorted(u & comp_defs):
        if not sym.startswith(('buf_', 'rng_', 'fnv1a64')):
            errors.append(f'tools: {obj} calls the compiler\'s {sym}; the tool library sits below the compiler')

for e in errors:
    print('FAIL', e)
print('runtime call graph:', '; '.join(f'{k} -> {", ".join(v) or "-"}' for k, v in sorted(edges.items())))
sys.exit(1 if errors else 0)
