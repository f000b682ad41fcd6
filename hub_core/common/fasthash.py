"""A fast content digest of a file for cache keys: size, modification time and sampled blocks.

Size and mtime alone miss a file rewritten in place with the same size and the same mtime
(a copy with ``cp -p``, a tool that restores the time, a coarse-grained file system): the
cache would serve the old file's arrays. Hashing whole files would cost as much as reading
the data set; BLOCKS blocks of BLOCK bytes spread over the file (all of a small one) catch a
rewrite for a few kilobytes read per file.
"""
from __future__ import annotations

import hashlib
import os

BLOCK = 4096
BLOCKS = 4


def file_digest(path: str | os.PathLike) -> str:
    """Hex digest of the file's size, mtime and sampled contents; raises OSError like ``open``."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        stat = os.fstat(handle.fileno())
        h.update(f"{stat.st_size}:{stat.st_mtime_ns}\0".encode())
        if stat.st_size <= BLOCK * BLOCKS:
            h.update(handle.read())
        else:
            step = (stat.st_size - BLOCK) // (BLOCKS - 1)
            for number in range(BLOCKS):
                h.update(os.pread(handle.fileno(), BLOCK, number * step))
    return h.hexdigest()
