#!/usr/bin/env python3
"""make_fixtures.py — writes the binary fixtures in tests/io/npy/.

Needs only Python's standard library (no NumPy): .npy headers are built per
NEP 1 the way numpy.lib.format writes them, and .npz archives the way
np.savez / np.savez_compressed do (zipfile, force_zip64 local headers), with
a fixed date so the bytes are reproducible.  Run it from anywhere:

    python3 tests/io/make_fixtures.py

then `test_io npy npy/<file> --update` to refresh a golden after reading
the diff.  The fixtures are committed; tests never run this script.
"""
import os
import struct
import zipfile

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "npy")


def header(descr, shape, fortran=False, version=(1, 0)):
    d = "{'descr': %r, 'fortran_order': %r, 'shape': %r, }" % (descr, fortran, tuple(shape))
    pre = 8 + (2 if version[0] == 1 else 4)
    pad = 64 - (pre + len(d) + 1) % 64
    d = (d + " " * pad + "\n").encode("latin1")
    fmt = "<H" if version[0] == 1 else "<I"
    return b"\x93NUMPY" + bytes(version) + struct.pack(fmt, len(d)) + d


def npy(values, shape, descr="<f8", fortran=False, version=(1, 0)):
    code = {"f8": "d", "f4": "f", "i8": "q"}[descr[1:]]
    data = struct.pack(descr[0] + code * len(values), *values)
    return header(descr, shape, fortran, version) + data


def npz(path, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        for name, data in entries:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            with zf.open(zi, "w", force_zip64=True) as f:
                f.write(data)


def put(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    os.makedirs(HERE, exist_ok=True)
    W1 = [0.5, -1.25, 2.0, 1e-300, -0.0, 3.141592653589793]
    b1 = [1.0, 2.0, 3.0]
    params = [("W1.npy", npy(W1, (2, 3))), ("b1.npy", npy(b1, (3,))), ("alpha.npy", npy([1.5], ()))]

    # Good .npy files.
    put("f8.npy", npy(W1, (2, 3)))
    put("f4.npy", npy([0.5, -2.0, 0.1], (3,), "<f4"))
    put("be.npy", npy([1.0, -2.5, 1e10, 0.125], (2, 2), ">f8"))
    put("v2.npy", npy([7.0, 8.0], (2,), version=(2, 0)))
    put("scalar.npy", npy([42.0], ()))
    put("fortran1d.npy", npy([1.0, 2.0], (2,), fortran=True))
    put("theta.npy", npy(W1 + b1 + [1.5], (10,)))

    # Good .npz files: the test model's parameters, stored and deflated.
    npz(os.path.join(HERE, "stored.npz"), params)
    npz(os.path.join(HERE, "deflated.npz"), params, zipfile.ZIP_DEFLATED)

    # Bad .npy files.
    put("bad_magic.npy", b"\x93NUMPX" + npy(W1, (2, 3))[6:])
    f8 = npy(W1, (2, 3))
    put("truncated.npy", f8[:-5])
    put("truncated_header.npy", f8[:30])
    put("i8.npy", npy([1, 2, 3], (3,), "<i8"))
    put("fortran.npy", npy(W1, (2, 3), fortran=True))
    put("wrong_len.npy", npy(W1 + b1, (9,)))
    put("theta2d.npy", npy(W1 + b1 + [1.5], (2, 5)))
    put("version9.npy", b"\x93NUMPY\x09\x00" + f8[8:])
    put("structured.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) +
        ("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }".ljust(117) + "\n").encode())
    put("extra_bytes.npy", f8 + b"\0\0\0\0")

    # Bad .npz files.
    npz(os.path.join(HERE, "wrong_shape.npz"),
        [("W1.npy", npy(W1, (3, 2))), params[1], params[2]])
    npz(os.path.join(HERE, "missing.npz"), params[:2])
    npz(os.path.join(HERE, "extra.npz"), params + [("W3.npy", npy([1.0], (1,)))])
    npz(os.path.join(HERE, "scalar_as_vector.npz"), params[:2] + [("alpha.npy", npy([1.5], (1,)))])
    npz(os.path.join(HERE, "wrong_dtype.npz"), params[:2] + [("alpha.npy", npy([1], (), "<i8"))])
    npz(os.path.join(HERE, "not_npy_entry.npz"), params + [("readme.txt", b"hello\n")])
    npz(os.path.join(HERE, "empty.npz"), [])
    if hasattr(zipfile, "ZIP_BZIP2"):
        npz(os.path.join(HERE, "bzip2.npz"), params, zipfile.ZIP_BZIP2)

    stored = open(os.path.join(HERE, "stored.npz"), "rb").read()
    put("truncated_zip.npz", stored[: len(stored) * 6 // 10])
    # Flip the last data byte of the last entry: a CRC-32 mismatch.
    cdoff = struct.unpack("<I", stored[-6:-2])[0]
    put("bad_crc.npz", stored[: cdoff - 1] + bytes([stored[cdoff - 1] ^ 1]) + stored[cdoff:])
    # Damage the deflate stream of the first entry.
    defl = open(os.path.join(HERE, "deflated.npz"), "rb").read()
    start = 30 + struct.unpack("<H", defl[26:28])[0] + struct.unpack("<H", defl[28:30])[0]
    put("bad_deflate.npz", defl[: start + 4] + b"\xff" * 6 + defl[start + 10 :])
    put("text.npz", b"W1,b1,alpha\n1,2,3\n")

    # stored.npz with a zip64 end of central directory, as archives with
    # more than 65535 entries or past 4 GiB have.
    count, cdsize, cdoff = struct.unpack("<HII", stored[-12:-2])
    z64 = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, cdsize, cdoff)
    loc = struct.pack("<IIQI", 0x07064B50, 0, len(stored) - 22, 1)
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    put("zip64_eocd.npz", stored[:-22] + z64 + loc + eocd)


if __name__ == "__main__":
    main()
