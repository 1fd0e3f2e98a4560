"""Writes tests/fixtures/multi-label.h5: a tiny multi-label one-hot set in DeepSEA/Basset layout
(`x`: n x length x 4, gzip-compressed; `y`: n x labels of 0/1; `y_bad`: one 2). Run once with h5py;
the file is committed so the tests need no Python."""
import h5py
import numpy as np

seqs = ["ACGTACGTAC", "GGGGCCCCAA", "TTTTAAAACC", "ACACACACAC", "GTGTGTGTGT", "CAGTCAGTNA"]
y = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 1], [1, 0, 0]], dtype=np.int64)
x = np.zeros((len(seqs), 10, 4), dtype=np.float32)
for i, s in enumerate(seqs):
    for j, b in enumerate(s):
        if b in "ACGT":
            x[i, j, "ACGT".index(b)] = 1.0
bad = y.copy()
bad[4, 2] = 2
with h5py.File("tests/fixtures/multi-label.h5", "w") as f:
    f.create_dataset("x", data=x, compression="gzip")
    f.create_dataset("y", data=y)
    f.create_dataset("y_bad", data=bad)
