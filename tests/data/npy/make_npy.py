#!/usr/bin/python3
"""Write the .npy fixtures of tests/test_npy.c with real numpy, and their manifest.

Run from anywhere with Debian's Python (it has numpy):  /usr/bin/python3 make_npy.py
Every file is written by numpy.lib.format.write_array (numpy >= 1.24 layout: 64-byte aligned
header). manifest.txt has one line per file:
    NAME ok MAJOR DESCR C|F SHAPE NBYTES FNV1A64-OF-THE-DATA-BYTES   (SHAPE: comma list, '-' 0-d)
    NAME refuse ERROR-NAME
"""
import os
import numpy as np
import numpy.lib.format as fmt

HERE = os.path.dirname(os.path.abspath(__file__))


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pattern(dtype, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n)
    k = dtype.kind
    if k == 'b':
        a = (i % 3) == 1
    elif k == 'i':
        a = i * 37 - 50
    elif k == 'u':
        a = i * 41 + 3
    elif k == 'f':
        a = i * 0.75 - 2.5
    elif k == 'c':
        a = (i * 0.5 - 1) + 1j * (i + 0.25)
    else:  # 'S'
        a = np.array([b'', b'a', b'bc', b'def', b'ghij', b'klmno'] * (n // 6 + 1))[:n]
    return np.asarray(a).astype(dtype).reshape(shape)


lines = []


def write(name, arr, version, fortran=False):
    if fortran:
        arr = np.asfortranarray(arr)
    path = os.path.join(HERE, name)
    with open(path, 'wb') as f:
        fmt.write_array(f, arr, version=version)
    with open(path, 'rb') as f:
        raw = f.read()
    with open(path, 'rb') as f:
        ver = fmt.read_magic(f)
        shape, forder, dt = fmt._read_array_header(f, ver)
        off = f.tell()
    data = raw[off:]
    assert len(data) == arr.nbytes
    shp = ','.join(str(s) for s in shape) if shape else '-'
    lines.append('%s ok %d %s %s %s %d %016x' % (name, ver[0], dt.str, 'F' if forder else 'C',
                                                 shp, len(data), fnv1a64(data)))


def refuse(name, arr, code, version=None):
    with open(os.path.join(HERE, name), 'wb') as f:
        fmt.write_array(f, arr, version=version, allow_pickle=True)
    lines.append('%s refuse %s' % (name, code))


SINGLE = ['b1', 'i1', 'u1', 'S5']
MULTI = ['i2', 'i4', 'i8', 'u2', 'u4', 'u8', 'f2', 'f4', 'f8', 'c8', 'c16']
VERSIONS = [(1, 0), (2, 0), (3, 0)]

for v in VERSIONS:
    tag = 'v%d' % v[0]
    for t in SINGLE:
        write('%s_%s.npy' % (t, tag), pattern(np.dtype('|' + t), (2, 3)), v)
    for t in MULTI:
        for order, oname in (('<', 'le'), ('>', 'be')):
            write('%s%s_%s.npy' % (t, oname, tag), pattern(np.dtype(order + t), (2, 3)), v)

write('f8le_fortran.npy', pattern(np.dtype('<f8'), (3, 4)), (1, 0), fortran=True)
write('i2be_fortran3d.npy', pattern(np.dtype('>i2'), (2, 3, 4)), (2, 0), fortran=True)
write('c16be_fortran.npy', pattern(np.dtype('>c16'), (2, 2)), (3, 0), fortran=True)
write('f8le_0d.npy', pattern(np.dtype('<f8'), ()), (1, 0))
write('c8be_0d.npy', pattern(np.dtype('>c8'), ()), (3, 0))
write('f8le_empty.npy', pattern(np.dtype('<f8'), (0,)), (1, 0))
write('i4be_empty2d_fortran.npy', pattern(np.dtype('>i4'), (3, 0)), (1, 0), fortran=True)
write('u1_1d.npy', pattern(np.dtype('|u1'), (17,)), (1, 0))
write('S1_4d.npy', pattern(np.dtype('|S1'), (1, 2, 1, 3)), (1, 0))

refuse('object_v1.npy', np.array([1, 'a', None], dtype=object), 'LRD_EDTYPE')
refuse('structured_v1.npy', np.zeros(3, dtype=[('a', '<i4'), ('b', '<f8')]), 'LRD_EDTYPE')
refuse('structured_utf8_v3.npy', np.zeros(2, dtype=[('\u00e9t\u00e9\u2603', '<i4')]),
       'LRD_EDTYPE')
refuse('unicode_v1.npy', np.array(['ab', 'c']), 'LRD_EDTYPE', (1, 0))
refuse('datetime_v1.npy', np.array(['2020-01-01'], dtype='M8[D]'), 'LRD_EDTYPE', (1, 0))
refuse('longdouble_v1.npy', np.zeros(2, dtype=np.longdouble), 'LRD_EDTYPE', (1, 0))

with open(os.path.join(HERE, 'manifest.txt'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
