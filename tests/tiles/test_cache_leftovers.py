"""What tile writers killed mid-write leave behind: never beside the tiles, removed by the sweep."""

import os
import time

from layers import jobs
from layers.tiles.cache import TEMP_DIR, TRASH_DIR, FolderTileCache, TileKey
from layers.tiles.grid import TileCoord


def test_tiles_are_written_through_the_caches_own_temporary_folder(tmp_path):
    cache = FolderTileCache(tmp_path)
    cache.put(TileKey("public", "roads", TileCoord(3, 6, 3)), b"tile bytes")
    assert (tmp_path / "public/roads/3/6/3.pbf.gz").read_bytes() == b"tile bytes"
    assert list((tmp_path / TEMP_DIR).iterdir()) == []  # renamed into place
    assert [p.name for p in (tmp_path / "public/roads/3/6").iterdir()] == ["3.pbf.gz"]


def test_old_leftovers_go_and_young_ones_stay(tmp_path):
    cache = FolderTileCache(tmp_path)
    temp, trash = tmp_path / TEMP_DIR, tmp_path / TRASH_DIR
    temp.mkdir()
    (trash / "roads-0123").mkdir(parents=True)
    (trash / "roads-0123" / "1.pbf.gz").write_bytes(b"x")
    old = temp / "roads.abc.tmp"
    young = temp / "roads.def.tmp"
    old.write_bytes(b"half a tile")
    young.write_bytes(b"being written")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(trash / "roads-0123", (an_hour_ago, an_hour_ago))

    assert cache.remove_leftovers(older_than_s=600) == 2
    assert not old.exists() and not (trash / "roads-0123").exists()
    assert young.exists()


def test_the_job_sweep_removes_them(db, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path
    leftover = tmp_path / TEMP_DIR / "roads.abc.tmp"
    leftover.parent.mkdir()
    leftover.write_bytes(b"half a tile")
    long_ago = time.time() - 2 * jobs.TILE_LEFTOVER_AGE_S
    os.utime(leftover, (long_ago, long_ago))
    jobs.jobs_sweep()
    assert not leftover.exists()
