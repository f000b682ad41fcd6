"""Tar-shard samples whose keys become one file name once made file-safe (``a b`` and ``a_b``)
are an error naming both, not one sample trained on the other's file; so is a key that
appears twice."""
from __future__ import annotations

import io
import tarfile

import pytest

from hub_core.common import shards
from hub_core.common.errors import DataError


def shard(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("members, message", [
    ([("a b.txt", b"one"), ("a b.cls", b"x"), ("a_b.txt", b"two"), ("a_b.cls", b"y")],
     "samples 'a b' and 'a_b' unpack to the same file name"),
    ([("k.txt", b"one"), ("k.cls", b"x"), ("j.txt", b"two"), ("k.txt", b"three")], "sample 'k' appears twice"),
])
def test_colliding_sample_keys_are_an_error(tmp_path, members, message):
    path = shard(tmp_path / "s.tar", members)
    with pytest.raises(DataError, match=message) as caught:
        shards.index(path)
    assert str(path) in str(caught.value)


def test_distinct_keys_unpack_each_to_its_own_file(tmp_path):
    path = shard(tmp_path / "s.tar", [("a b.txt", b"one"), ("a b.cls", b"x"), ("c.txt", b"two"), ("c.cls", b"y")])
    rows = (shards.index(path).read_text()).splitlines()[1:]
    assert [row.rsplit(",", 1)[1] for row in rows] == ["s.tar:a b", "s.tar:c"]
