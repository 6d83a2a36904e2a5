"""Every format the import reads, from small real files or files GDAL writes here."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from layers.models import Feature, ImportJob

from .conftest import errors, run, write_layer

pytestmark = pytest.mark.django_db

HUE = [
    ("Đại Nội", "di tích", 1, 520000.5, True, 107.5786, 16.4698),
    ("Chùa Thiên Mụ", "chùa", 7, 25000.0, True, 107.5454, 16.4535),
    ("Chợ Đông Ba", "chợ", 2, 47000.0, False, 107.5889, 16.4727),
]


def names(layer) -> list[str]:
    return list(Feature.objects.filter(layer=layer).order_by("id").values_list("name", flat=True))


def test_geojson_with_vietnamese_names(layer, tmp_path):
    path = write_layer(
        tmp_path / "hue.geojson",
        [shapely.Point(lon, lat) for *_rest, lon, lat in HUE],
        {
            "Tên": [p[0] for p in HUE],
            "Loại": [p[1] for p in HUE],
            "Số tầng": np.array([p[2] for p in HUE], dtype=np.int64),
        },
        driver="GeoJSON",
    )
    job = run(path, layer=layer)
    assert job.status == ImportJob.Status.SUCCEEDED, job.messages
    assert job.imported_count == 3
    layer.refresh_from_db()
    assert names(layer) == ["Đại Nội", "Chùa Thiên Mụ", "Chợ Đông Ba"]
    assert layer.attribute_schema[0] == {
        "name": "ten",
        "type": "text",
        "label_vi": "Tên",
        "label_en": "Tên",
    }


def test_geojson_is_recognised_by_content_whatever_its_name(layer, tmp_path):
    path = write_layer(
        tmp_path / "x.geojson", [shapely.Point(107.58, 16.46)], {"ten": ["Huế"]}, driver="GeoJSON"
    )
    job = run(path.read_bytes(), layer=layer, name="du-lieu.txt")
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["format"] == "GeoJSON"


def test_zipped_shapefile(layer, data):
    job = run(data / "coutwildrnp.zip", layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.imported_count == 67
    layer.refresh_from_db()
    assert layer.feature_count == 67
    assert layer.geometry_type == "polygon"
    assert layer.name_field == "name"
    assert {e["name"] for e in layer.attribute_schema} >= {"name", "state", "agbur", "area", "url"}
    # single and multi parts unified: every polygon of the layer is of one kind
    kinds = set(Feature.objects.filter(layer=layer).values_list("geom", flat=True))
    assert len({g.geom_type for g in kinds}) == 1


def test_geopackage_lists_its_layers_and_takes_the_one_chosen(layer, tmp_path):
    path = tmp_path / "hue.gpkg"
    schools = {"ten": ["Trường Quốc Học"]}
    markets = {"ten": ["Chợ Đông Ba", "Chợ An Cựu"]}
    points = [shapely.Point(107.59, 16.47), shapely.Point(107.6, 16.47)]
    write_layer(path, points[:1], schools, driver="GPKG", layer="truong_hoc")
    write_layer(path, points, markets, driver="GPKG", layer="cho", append=True)
    before = layer.version
    job = run(path, layer=layer)
    assert job.status == "failed"
    assert "“truong_hoc” (1 features)" in errors(job) and "“cho” (2 features)" in errors(job)
    assert job.report["layers"] == [
        {"name": "truong_hoc", "features": 1},
        {"name": "cho", "features": 2},
    ]
    layer.refresh_from_db()
    assert layer.version == before

    job = run(path, layer=layer, source_layer="cho")
    assert job.status == "succeeded", job.messages
    assert names(layer) == ["Chợ Đông Ba", "Chợ An Cựu"]
    assert job.report["source"]["layers"] == ["truong_hoc", "cho"]


def test_geopackage_types_and_nulls(layer, data):
    job = run(data / "test_gpkg_nulls.gpkg", layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.imported_count == 4
    layer.refresh_from_db()
    types = {entry["name"]: entry["type"] for entry in layer.attribute_schema}
    assert types["col_bool"] == "boolean"
    assert types["col_int32"] == "integer"
    assert types["col_float64"] == "number"
    values = [f.attributes for f in Feature.objects.filter(layer=layer).order_by("id")]
    assert values[0]["col_bool"] is True and isinstance(values[0]["col_int32"], int)
    assert any(v["col_float64"] is None for v in values)


KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Placemark><name>Cầu Trường Tiền</name>
  <Point><coordinates>107.5897,16.4683,0</coordinates></Point></Placemark>
<Placemark><name>Kinh thành Huế</name><Polygon><outerBoundaryIs><LinearRing><coordinates>
  107.565,16.461 107.590,16.461 107.590,16.482 107.565,16.482 107.565,16.461
</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark>
</Document></kml>"""


def test_kml(layer):
    job = run(KML.encode(), layer=layer, name="hue.kml")
    assert job.status == "succeeded", job.messages
    assert names(layer) == ["Cầu Trường Tiền", "Kinh thành Huế"]
    layer.refresh_from_db()
    assert layer.geometry_type == "mixed"
    assert any("Z (height)" in m["message"] for m in job.messages)


def test_kmz(layer, tmp_path):
    import zipfile

    kmz = tmp_path / "hue.kmz"
    with zipfile.ZipFile(kmz, "w") as bundle:
        bundle.writestr("doc.kml", KML)
        bundle.writestr("files/icon.png", b"\x89PNG\r\n")
    job = run(kmz, layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["format"] == "KML"
    assert names(layer) == ["Cầu Trường Tiền", "Kinh thành Huế"]


@pytest.mark.parametrize(
    ("header", "separator"),
    [("ten,kinh_do,vi_do", ","), ("Tên;Kinh độ;Vĩ độ", ";"), ("name,lon,lat", ","),
     ("ten,x,y", ",")],
)  # fmt: skip
def test_csv_with_longitude_and_latitude_columns(layer, header, separator):
    rows = [header] + [separator.join([p[0], str(p[5]), str(p[6])]) for p in HUE]
    job = run("\n".join(rows).encode(), layer=layer, name="hue.csv")
    assert job.status == "succeeded", job.messages
    assert names(layer) == [p[0] for p in HUE]
    first = Feature.objects.filter(layer=layer).order_by("id").first()
    assert (first.geom.x, first.geom.y) == pytest.approx((107.5786, 16.4698))
    layer.refresh_from_db()
    assert len(layer.attribute_schema) == 1  # the coordinate columns became the geometry


def test_csv_with_columns_named_by_the_uploader(layer):
    text = "ten,dong,bac\nĐại Nội,107.5786,16.4698\n"
    job = run(text.encode(), layer=layer, name="a.csv", lon_field="dong", lat_field="bac")
    assert job.status == "succeeded", job.messages
    assert names(layer) == ["Đại Nội"]


def test_csv_with_a_wkt_column_and_types(layer):
    text = (
        'ten,so_tang,dien_tich,ngay,wkt\n'
        '"Kinh thành",1,520000.5,2024-05-01,'
        '"POLYGON((107.565 16.461,107.59 16.461,107.59 16.482,107.565 16.461))"\n'
        '"Đại Nội",2,1.5,2024-06-02,'
        '"POLYGON((107.57 16.46,107.58 16.46,107.58 16.47,107.57 16.46))"\n'
    )  # fmt: skip
    job = run(text.encode(), layer=layer, name="khu.csv")
    assert job.status == "succeeded", job.messages
    layer.refresh_from_db()
    types = {entry["name"]: entry["type"] for entry in layer.attribute_schema}
    assert types == {"ten": "text", "so_tang": "integer", "dien_tich": "number", "ngay": "date"}
    feature = Feature.objects.filter(layer=layer).order_by("id").first()
    assert feature.attributes == {"ten": "Kinh thành", "so_tang": 1, "dien_tich": 520000.5,
                                  "ngay": "2024-05-01"}  # fmt: skip


def test_flatgeobuf(layer, tmp_path):
    path = write_layer(
        tmp_path / "hue.fgb",
        [shapely.LineString([(107.54, 16.45), (107.58, 16.466)])],
        {"ten": ["Sông Hương"]},
        driver="FlatGeobuf",
    )
    job = run(path.read_bytes(), layer=layer, name="song")
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["format"] == "FlatGeobuf"
    layer.refresh_from_db()
    assert layer.geometry_type == "line"
    assert names(layer) == ["Sông Hương"]


def test_gpx_takes_the_layer_with_data(layer, data):
    job = run(data / "test_gpx.gpx", layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["layer"] == "tracks"
    assert job.imported_count == 1
    layer.refresh_from_db()
    assert layer.geometry_type == "line"


def test_gml(layer, tmp_path):
    path = write_layer(
        tmp_path / "hue.gml",
        [shapely.Point(107.5786, 16.4698)],
        {"ten": ["Đại Nội"]},
        driver="GML",
    )
    job = run(path, layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.report["source"]["format"] == "GML"
    assert names(layer) == ["Đại Nội"]


def test_topojson(layer, data):
    job = run(data / "example.topojson", layer=layer)
    assert job.status == "succeeded", job.messages
    assert job.imported_count == 3
