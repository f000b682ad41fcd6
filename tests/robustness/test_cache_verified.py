"""The disk cache is verified, not trusted: an entry with a file missing, truncated or
overwritten is rebuilt with a one-line notice; deletion never leaves a half entry that looks
whole; a cache folder that cannot be written means no cache (with a notice), not an error;
a data file rewritten with the same size and mtime is a new key."""
from __future__ import annotations

import io
import os
import tarfile

import pytest

from hub_core.common import diskcache, shards
from hub_core.common.errors import ConfigError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PLUGHUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(diskcache, "_unusable", {})
    return tmp_path / "cache"


def build(key="k" * 40):
    with diskcache.building(key, "test", "a test entry") as folder:
        (folder / "big.npy").write_bytes(os.urandom(50_000))
        (folder / "small.txt").write_text("index")
    return key


@pytest.mark.parametrize("damage", ["truncated", "missing", "overwritten"])
def test_a_damaged_entry_is_rebuilt_with_a_notice(cache, capsys, damage):
    key = build()
    assert diskcache.lookup(key) is not None
    big = cache / key / "big.npy"
    if damage == "truncated":
        big.write_bytes(big.read_bytes()[:1000])
    elif damage == "missing":
        big.unlink()  # what a kill during a deletion by rmtree could leave
    else:
        stat = big.stat()
        big.write_bytes(os.urandom(stat.st_size))
        os.utime(big, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    capsys.readouterr()
    assert diskcache.lookup(key) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is damaged" in err and "building it again" in err, err
    assert not (cache / key).exists()
    build(key)
    assert diskcache.lookup(key) is not None


def test_deleting_renames_first_so_no_half_entry_looks_whole(cache, monkeypatch):
    key = build()

    def killed(path, ignore_errors=False):  # the process dies at the first file it deletes
        raise SystemExit("killed")

    monkeypatch.setattr(diskcache.shutil, "rmtree", killed)
    with pytest.raises(SystemExit):
        diskcache.clear()
    monkeypatch.undo()
    monkeypatch.setenv("PLUGHUB_CACHE", str(cache))
    assert diskcache.lookup(key) is None and not (cache / key).exists()
    build("j" * 40)  # the next build removes what the killed deletion left
    assert not list(cache.glob(".del-*"))


def test_a_cache_folder_that_cannot_be_written_means_no_cache(tmp_path, monkeypatch, capsys):
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("x")
    monkeypatch.setenv("PLUGHUB_CACHE", str(in_the_way))
    monkeypatch.setattr(diskcache, "_unusable", {})
    assert not diskcache.enabled() and not diskcache.enabled()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "running without it" in err, err


@pytest.mark.parametrize("value", ["inf", "nan", "-1G"])
def test_a_cache_limit_that_is_no_size_is_one_line(monkeypatch, value):
    monkeypatch.setenv("PLUGHUB_CACHE_LIMIT", value)
    with pytest.raises(ConfigError, match="PLUGHUB_CACHE_LIMIT"):
        diskcache.limit()


def test_a_same_size_same_mtime_rewrite_is_a_new_key(cache, tmp_path):
    path = tmp_path / "s.tar"

    def write(label: bytes):
        with tarfile.open(path, "w") as tar:
            for name, data in (("a.txt", b"text"), ("a.cls", label)):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    write(b"yes")
    stat = path.stat()
    first = shards.index(path)
    assert "yes" in first.read_text()
    write(b"no!")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    second = shards.index(path)
    assert second != first and "no!" in second.read_text()


def test_a_live_build_in_another_pid_namespace_is_left_alone(cache):
    """A build whose PID means nothing here (another container) but whose lock is held is live;
    once its lock is free, it is abandoned and the next build removes it."""
    import fcntl

    build("a" * 40)  # makes the folder
    live = cache / f".tmp-{'b' * 40}-4000000"
    live.mkdir()
    lock = cache / f".lock-{'b' * 40}-4000000"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: as another process's lock
    try:
        build("c" * 40)
        assert live.is_dir()
    finally:
        os.close(holder)  # the other builder dies: the kernel drops its lock
    build("d" * 40)
    assert not live.exists() and not lock.exists()
