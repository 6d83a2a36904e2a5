"""The tile commands: seedtiles with its progress bar, a PMTiles export a real reader opens, and
the nginx site rendered from the settings."""

import gzip
from io import StringIO

import mapbox_vector_tile
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

from layers.models import TileJob
from tests.tiles.conftest import DAI_NOI, LANG_CO, expected_tiles, tile_and_pixel

pytestmark = pytest.mark.django_db


def test_seedtiles_shows_progress_and_seeds(sites):
    out = StringIO()
    call_command("seedtiles", "sites", "--max-zoom", "8", stdout=out)
    total = len(expected_tiles([DAI_NOI, LANG_CO], 0, 8))
    text = out.getvalue()
    assert f"[{'#' * 30}] {total}/{total} tiles 100%" in text
    assert f"{total} rendered, 0 already current" in text
    job = TileJob.objects.get(layer=sites)
    assert (job.status, job.min_zoom, job.max_zoom) == ("succeeded", 0, 8)
    with pytest.raises(CommandError, match="No layer named nowhere"):
        call_command("seedtiles", "nowhere", stdout=StringIO())


def test_exportpmtiles_writes_an_archive_the_pmtiles_reader_opens(sites, tmp_path):
    path = tmp_path / "sites.pmtiles"
    out = StringIO()
    call_command("exportpmtiles", "sites", str(path), stdout=out)
    expected = expected_tiles([DAI_NOI, LANG_CO], 0, 10)
    assert f"{len(expected)} tiles of sites" in out.getvalue()
    with path.open("rb") as file:
        source = MmapSource(file)
        reader = Reader(source)
        header = reader.header()
        assert header["tile_type"] == TileType.MVT
        assert header["tile_compression"] == Compression.GZIP
        assert (header["min_zoom"], header["max_zoom"]) == (0, 10)
        metadata = reader.metadata()
        assert metadata["vector_layers"][0]["id"] == "sites"
        assert {tuple(zxy) for zxy, _ in all_tiles(source)} == {(t.z, t.x, t.y) for t in expected}
        x, y, px, py = tile_and_pixel(*DAI_NOI, 10)
        tile = mapbox_vector_tile.decode(
            gzip.decompress(reader.get(10, x, y)), default_options={"y_coord_down": True}
        )
        [feature] = tile["sites"]["features"]
        assert feature["properties"] == {"ten": "Đại Nội"}
        gx, gy = feature["geometry"]["coordinates"]
        assert abs(gx - px) <= 8 and abs(gy - py) <= 8


def test_exportpmtiles_within_a_budget_stops_early_and_says_so(sites, tmp_path):
    path = tmp_path / "sites.pmtiles"
    out = StringIO()
    whole = expected_tiles([DAI_NOI, LANG_CO], 0, 10)
    # A budget that holds z0-z6 but not z7: the archive stops at z6, and its metadata says so.
    kept = [t for t in whole if t.z <= 6]
    assert len(kept) < len([t for t in whole if t.z <= 7])
    call_command("exportpmtiles", "sites", str(path), "--budget", str(len(kept)), stdout=out)
    assert f"{len(kept)} tiles of sites, z0-6" in out.getvalue()
    assert "Stopped at z6 instead of z10" in out.getvalue()
    with path.open("rb") as file:
        reader = Reader(MmapSource(file))
        assert (reader.header()["min_zoom"], reader.header()["max_zoom"]) == (0, 6)
        assert reader.metadata()["maxzoom"] == 6


def test_nginxconf_renders_the_site_from_the_settings(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = "/_private_tiles/"
    settings.TILE_PUBLIC_MAX_AGE_S = 120
    out, err = StringIO(), StringIO()
    call_command("nginxconf", "--listen", "8080", "--upstream", "127.0.0.1:9000", stdout=out)
    site = out.getvalue()
    assert "listen 8080;" in site
    assert "server 127.0.0.1:9000;" in site
    assert f"alias {tmp_path}/tiles/public/$tile_slug$mapserver_tile_version/$tile_zxy.pbf;" in site
    assert "location /_private_tiles/ {" in site
    assert 'add_header Cache-Control "public, max-age=120";' in site
    assert "{{" not in site and "{%" not in site

    output = tmp_path / "mapserver.conf"
    call_command("nginxconf", "-o", str(output), stdout=StringIO(), stderr=err)
    assert "listen 80;" in output.read_text()
    assert "nginx -t" in err.getvalue()


def test_nginxconf_refuses_what_would_break_the_config(settings):
    with pytest.raises(CommandError, match="upstream"):
        call_command("nginxconf", "--upstream", "127.0.0.1:8000; include /etc/passwd")
    settings.TILE_CACHE_DIR = "/srv/tiles with space"
    with pytest.raises(CommandError, match="tile_cache_dir"):
        call_command("nginxconf")
