#!/usr/bin/env python3
"""python_check.py — cross-checks nodec's .npz files against other readers
and writers.

    python_check.py zipfile TEST_IO TMPDIR   Python's zipfile (stdlib only)
    python_check.py numpy   TEST_IO TMPDIR   real NumPy; exits 77 (CTest skip)
                                             when numpy cannot be imported

Both directions: TEST_IO write_npz writes known arrays that Python reads
and checks bit for bit; Python writes archives that `TEST_IO dump` reads.
"""
import ast
import io
import math
import os
import struct
import subprocess
import sys
import zipfile

# The arrays test_io.c's known_arrays() holds.
KNOWN = [
    ("a", (2, 3), [0.5, -1.25, 2.0, 1e-300, -0.0, 3.141592653589793]),
    ("b", (), [3.25]),
    ("c", (0,), []),
    ("d", (5,), [5e-324, 1.7976931348623157e308, -2.2250738585072014e-308, 1.0 / 3, 1e22]),
    ("opt/m", (2, 3, 4), [i * 0.25 - 3 for i in range(24)]),
]


def bits(xs):
    return struct.pack("<%dd" % len(xs), *xs)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(test_io, *args):
    r = subprocess.run([test_io] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        fail("%s %s: %s" % (test_io, " ".join(args), r.stderr))
    return r.stdout


def parse_dump(text):
    """'name (2, 3) 1 2 …' lines → [(name, shape, values)]."""
    out = []
    for line in text.splitlines():
        name, rest = line.split(" (", 1)
        shape, vals = rest.split(")", 1)
        shape = ast.literal_eval("(" + shape + ")")
        out.append((name, shape, [float(v) for v in vals.split()]))
    return out


def check_dump(test_io, path, want):
    got = parse_dump(run(test_io, "dump", path))
    if [(n, s) for n, s, _ in got] != [(n, s) for n, s, _ in want]:
        fail("%s: names/shapes %r, want %r" % (path, [(n, s) for n, s, _ in got], [(n, s) for n, s, _ in want]))
    for (n, _, g), (_, _, w) in zip(got, want):
        if bits(g) != bits(w):
            fail("%s: %s = %r, want %r" % (path, n, g, w))


def npy_bytes(shape, vals):
    d = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (tuple(shape),)
    d += " " * (64 - (10 + len(d) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(d)) + d.encode() + bits(vals)


class Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek in: it then writes data descriptors."""

    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


def check_zipfile(test_io, tmp):
    path = os.path.join(tmp, "nodec.npz")
    run(test_io, "write_npz", path)
    with zipfile.ZipFile(path) as zf:
        bad = zf.testzip()
        if bad:
            fail("zipfile: bad CRC in " + bad)
        names = zf.namelist()
        if names != [n + ".npy" for n, _, _ in KNOWN]:
            fail("entries %r" % names)
        for (name, shape, vals), info in zip(KNOWN, zf.infolist()):
            if info.compress_type != zipfile.ZIP_STORED:
                fail(name + ": not stored")
            data = zf.read(info)
            if data[:8] != b"\x93NUMPY\x01\x00":
                fail(name + ": magic/version")
            hlen = struct.unpack("<H", data[8:10])[0]
            if (10 + hlen) % 64:
                fail(name + ": data not aligned to 64")
            header = data[10 : 10 + hlen].decode("latin1")
            want = "{'descr': '<f8', 'fortran_order': False, 'shape': %r, }" % (shape,)
            if header.rstrip(" \n") != want or not header.endswith("\n"):
                fail("%s: header %r, want %r" % (name, header, want))
            d = ast.literal_eval(header)
            if d["shape"] != shape:
                fail(name + ": shape")
            if data[10 + hlen :] != bits(vals):
                fail(name + ": values")

    # Archives written by zipfile: stored, deflated, and with data
    # descriptors (written to a stream that cannot seek).
    entries = [(n + ".npy", npy_bytes(s, v)) for n, s, v in KNOWN]
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        p = os.path.join(tmp, "py%d.npz" % method)
        with zipfile.ZipFile(p, "w", compression=method) as zf:
            for n, data in entries:
                zf.writestr(n, data)
        check_dump(test_io, p, KNOWN)
    s = Unseekable()
    with zipfile.ZipFile(s, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n, data in entries:
            with zf.open(n, "w") as f:
                f.write(data)
    p = os.path.join(tmp, "stream.npz")
    with open(p, "wb") as f:
        f.write(bytes(s.buf))
    check_dump(test_io, p, KNOWN)
    print("zipfile: ok")


def check_numpy(test_io, tmp):
    try:
        import numpy as np
    except ImportError:
        print("numpy is not installed: skipped")
        sys.exit(77)
    path = os.path.join(tmp, "nodec.npz")
    run(test_io, "write_npz", path)
    with np.load(path) as z:
        for name, shape, vals in KNOWN:
            x = z[name]
            if x.dtype != np.float64 or x.shape != shape or bits(x.ravel().tolist()) != bits(vals):
                fail("numpy read %s: %r" % (name, x))
    arrays = {n: np.array(v, dtype=np.float64).reshape(s) for n, s, v in KNOWN}
    for save, p in ((np.savez, "np.npz"), (np.savez_compressed, "npc.npz")):
        save(os.path.join(tmp, p), **arrays)
        check_dump(test_io, os.path.join(tmp, p), KNOWN)
    for dtype in ("<f4", ">f8", "<f8"):
        p = os.path.join(tmp, "x.npy")
        x = np.arange(6, dtype=dtype).reshape(2, 3) / 4
        np.save(p, x.astype(dtype))
        check_dump(test_io, p, [("x", (2, 3), [float(v) for v in x.ravel()])])
    print("numpy %s: ok" % np.__version__)


def main():
    mode, test_io, tmp = sys.argv[1:4]
    tmp = os.path.join(tmp, "python_" + mode)
    os.makedirs(tmp, exist_ok=True)
    {"zipfile": check_zipfile, "numpy": check_numpy}[mode](test_io, tmp)


if __name__ == "__main__":
    main()
