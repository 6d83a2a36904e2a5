"""The admin as GIS staff use it: lists, filters, maps, read-only jobs, Vietnamese and English."""

import pytest
from django.contrib.gis.geos import Point
from django.urls import reverse

from layers.models import ImportJob, Layer, TileJob
from layers.services import layer_refresh_stats
from tests.factories import FeatureFactory, LayerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_layer_list_filters_and_search(staff_client, layers_by_visibility):
    url = reverse("admin:layers_layer_changelist")
    page = staff_client.get(url).content.decode()
    for slug in ("public-layer", "internal-layer", "restricted-layer"):
        assert slug in page

    only_internal = staff_client.get(url, {"visibility__exact": "internal"}).content.decode()
    assert "internal-layer" in only_internal
    assert "public-layer" not in only_internal

    found = staff_client.get(url, {"q": "restricted"}).content.decode()
    assert "restricted-layer" in found
    assert "internal-layer" not in found


def test_layer_form_shows_the_extent_map_served_locally(staff_client, settings):
    layer = LayerFactory(slug="song-ho", style={"paint": {"fill-color": "#6baed6"}})
    settings.WEBMAP_BASE_LAYERS = ["song-ho"]
    FeatureFactory(layer=layer, geom=Point(107.58, 16.46, srid=4326))
    page = staff_client.get(reverse("admin:layers_layer_change", args=[layer.pk])).content.decode()
    assert "vendor/ol/ol.js" in page
    assert "cdn.jsdelivr.net" not in page
    assert 'id="id_extent_map"' in page
    # The background is the city's own vector tiles, not OpenStreetMap's (no internet needed).
    assert '"url": "/tiles/song-ho/{z}/{x}/{y}.pbf"' in page
    assert '"color": "#6baed6"' in page
    assert "ol.source.OSM" not in page


def test_saving_a_feature_in_the_admin_bumps_the_layer(staff_client):
    layer = LayerFactory()
    feature = FeatureFactory(layer=layer, attributes={"ten": "Chợ Đông Ba"}, name="")
    layer_refresh_stats(layer=layer)  # the factory wrote behind the services; edits keep counts
    version = Layer.objects.get(pk=layer.pk).version
    response = staff_client.post(
        reverse("admin:layers_feature_change", args=[feature.pk]),
        {
            "layer": layer.pk,
            "name": "",
            "attributes": '{"ten": "Chợ Đông Ba"}',
            "geom": '{"type": "Point", "coordinates": [11977000, 1858800]}',
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    layer.refresh_from_db()
    feature.refresh_from_db()
    assert layer.version == version + 1
    assert layer.feature_count == 1
    assert feature.name == "Chợ Đông Ba"
    assert feature.search_text == "cho dong ba"


def test_feature_list_filters_by_layer(staff_client):
    roads, markets = LayerFactory(slug="roads"), LayerFactory(slug="markets")
    FeatureFactory(layer=roads, name="Lê Lợi")
    FeatureFactory(layer=markets, name="Chợ Đông Ba")
    url = reverse("admin:layers_feature_changelist")
    page = staff_client.get(url, {"layer__id__exact": markets.pk}).content.decode()
    assert "Chợ Đông Ba" in page
    assert "Lê Lợi" not in page


def test_jobs_are_read_only_with_progress(staff_client, staff):
    layer = LayerFactory()
    job = ImportJob.objects.create(
        layer=layer,
        source_name="phuong.zip",
        status="running",
        progress_done=30,
        progress_total=120,
        messages=[{"level": "warning", "feature": 7, "message": "<b>geometry repaired</b>"}],
        report={"source": {"format": "ESRI Shapefile", "srid": 9214, "encoding": "cp1258"}},
        created_by=staff,
    )
    TileJob.objects.create(layer=layer, progress_done=5, progress_total=10)
    listing = staff_client.get(reverse("admin:layers_importjob_changelist")).content.decode()
    assert '<progress max="100" value="25"' in listing
    detail = staff_client.get(reverse("admin:layers_importjob_change", args=[job.pk]))
    text = detail.content.decode()
    assert "&lt;b&gt;geometry repaired&lt;/b&gt;" in text  # messages are text, never HTML
    assert 'name="_save"' not in text
    assert "ESRI Shapefile" in text
    assert '{"source"' not in text  # the report reads as one line, not as raw JSON
    assert staff_client.get(reverse("admin:layers_importjob_add")).status_code == 403
    tiles = staff_client.get(reverse("admin:layers_tilejob_changelist")).content.decode()
    assert '<progress max="100" value="50"' in tiles


@pytest.mark.parametrize(
    ("language", "expected"), [("vi", "Lớp bản đồ thành phố"), ("en", "City map layers")]
)
def test_admin_speaks_vietnamese_and_english(staff_client, language, expected):
    staff_client.post(reverse("set_language"), {"language": language, "next": "/admin/"})
    page = staff_client.get(reverse("admin:layers_layer_changelist")).content.decode()
    assert expected in page
    assert f'<html lang="{language}"' in page


def test_anonymous_is_sent_to_the_login(client):
    response = client.get(reverse("admin:layers_layer_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
