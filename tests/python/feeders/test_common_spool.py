"""The on-disk spool: order, bounds, durability across reopen."""

from __future__ import annotations

from bbdash.common.spool import Spool


def test_spool_keeps_order_and_counts(tmp_path):
    spool = Spool(tmp_path / "s.sqlite", 1_000_000)
    spool.append(["a 1", "b 2"])
    spool.append(["c 3"])
    spool.append(["d 4", "e 5", "f 6"])
    assert spool.depth_points == 6
    first = spool.peek(3)
    assert [line for e in first for line in e.lines] == ["a 1", "b 2", "c 3"]
    spool.remove([e.id for e in first])
    assert spool.depth_points == 3
    rest = spool.peek(1)  # always at least one whole batch
    assert rest[0].lines == ["d 4", "e 5", "f 6"]


def test_spool_survives_reopen(tmp_path):
    path = tmp_path / "s.sqlite"
    spool = Spool(path, 1_000_000)
    spool.append(["x v=1 1", "y v=2 2"])
    spool.close()
    again = Spool(path, 1_000_000)
    assert again.depth_points == 2
    assert again.depth_bytes == len(b"x v=1 1\ny v=2 2")
    assert again.peek(10)[0].lines == ["x v=1 1", "y v=2 2"]


def test_spool_refuses_beyond_max_bytes(tmp_path):
    spool = Spool(tmp_path / "s.sqlite", 20)
    assert spool.append(["0123456789"])
    assert not spool.append(["0123456789abc"])
    assert spool.depth_points == 1
