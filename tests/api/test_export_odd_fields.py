"""Exports of layers whose attributes do not fit a flat table: a schema field no feature has yet,
lists and objects (a Shapefile or GeoPackage column holds one plain value), an empty result."""

import json
import subprocess
import zipfile

import pytest
from django.contrib.gis.geos import Point

from layers.services import FeatureRecord, layer_replace_features
from tests.api.test_exports import download, read_with_gdal
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

SCHEMA = [
    {"name": "ten", "type": "text", "label_vi": "Tên", "label_en": "Name"},
    # Added to the schema for a survey that has not started: no feature has it.
    {"name": "ghi_chu", "type": "text", "label_vi": "Ghi chú", "label_en": "Note"},
    {"name": "so_phong", "type": "integer", "label_vi": "Số phòng", "label_en": "Rooms"},
]


@pytest.fixture
def odd_layer(category):
    layer = LayerFactory(
        slug="khach-san-khao-sat",
        category=category,
        visibility="public",
        geometry_type="point",
        name_field="ten",
        attribute_schema=SCHEMA,
    )
    layer_replace_features(
        layer=layer,
        records=[
            FeatureRecord(
                geom=Point(107.5900, 16.4650, srid=4326),
                attributes={
                    "ten": "Khách sạn Hương Giang",
                    "so_phong": 165,
                    "tien_nghi": ["hồ bơi", "nhà hàng"],
                    "lien_he": {"dien_thoai": "0234 3822122", "web": "huonggiang.vn"},
                },
            ),
            FeatureRecord(
                geom=Point(107.5950, 16.4620, srid=4326),
                attributes={"ten": "Khách sạn Sài Gòn Morin", "so_phong": 180, "sao": [4, 5]},
            ),
        ],
    )
    layer.refresh_from_db()
    return layer


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip", "kml", "csv", "geojson"])
def test_a_layer_with_an_unused_field_and_lists_exports(api, odd_layer, tmp_path, fmt):
    _, path = download(api, f"/api/v1/layers/{odd_layer.slug}/export.{fmt}", tmp_path)
    source = f"/vsizip/{path}" if fmt == "shp.zip" else str(path)
    features = read_with_gdal(source)
    by_name = {f["properties"].get("ten") or f["properties"].get("Name"): f for f in features}
    assert sorted(by_name) == ["Khách sạn Hương Giang", "Khách sạn Sài Gòn Morin"]
    morin = by_name["Khách sạn Sài Gòn Morin"]["properties"]
    assert int(morin["so_phong"]) == 180
    if fmt in ("gpkg", "shp.zip"):
        # Declared in the schema, so it is a column, empty while no feature has a value.
        assert "ghi_chu" in morin and morin["ghi_chu"] in (None, "")
    hotel = by_name["Khách sạn Hương Giang"]["properties"]
    # A list or an object is kept whole, as JSON text where the format has no such type.
    amenities = hotel["tien_nghi"]
    if isinstance(amenities, str):
        amenities = json.loads(amenities)
    assert amenities == ["hồ bơi", "nhà hàng"]
    contact = hotel["lien_he"]
    if isinstance(contact, str):
        contact = json.loads(contact)
    assert contact["dien_thoai"] == "0234 3822122"


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip", "kml"])
def test_an_export_that_matches_nothing_is_an_empty_file_not_an_error(
    api, odd_layer, tmp_path, fmt
):
    _, path = download(
        api,
        f"/api/v1/layers/{odd_layer.slug}/export.{fmt}",
        tmp_path,
        bbox="100.0,10.0,100.1,10.1",
    )
    source = f"/vsizip/{path}" if fmt == "shp.zip" else str(path)
    if fmt == "shp.zip":
        with zipfile.ZipFile(path) as archive:
            assert sorted(archive.namelist())[-2:] == [
                f"{odd_layer.slug}.shp",
                f"{odd_layer.slug}.shx",
            ]
    assert read_with_gdal(source) == []
    if fmt == "kml":
        # GDAL reads no fields from an empty KML layer, but its Schema is written.
        assert '<SimpleField name="ghi_chu" type="string"/>' in path.read_text()
        return
    # The empty layer still has the export's columns, in the schema's order.
    info = subprocess.run(["ogrinfo", "-so", "-al", source], capture_output=True, text=True)
    assert info.returncode == 0, info.stderr
    fields = [line.split(":")[0] for line in info.stdout.splitlines() if ": " in line]
    assert [name for name in ("ten", "ghi_chu", "so_phong") if name in fields] == [
        "ten",
        "ghi_chu",
        "so_phong",
    ]
