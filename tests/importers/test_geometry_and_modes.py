"""Geometry repair and clean-up, and the create / replace / append modes."""

from __future__ import annotations

import json

import pytest
import shapely

from layers.models import Feature, Layer

from .conftest import run, snapshot, write_layer

pytestmark = pytest.mark.django_db

BOWTIE = [[107.57, 16.46], [107.58, 16.47], [107.58, 16.46], [107.57, 16.47], [107.57, 16.46]]
SQUARE = [[107.57, 16.46], [107.58, 16.46], [107.58, 16.47], [107.57, 16.47], [107.57, 16.46]]


def geojson(*features: tuple[dict | None, dict]) -> bytes:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": geometry, "properties": properties}
                for geometry, properties in features
            ],
        }
    ).encode()


def test_invalid_geometries_are_repaired_and_counted(layer):
    job = run(
        geojson(
            ({"type": "Polygon", "coordinates": [SQUARE]}, {"ten": "Hợp lệ"}),
            ({"type": "Polygon", "coordinates": [BOWTIE]}, {"ten": "Hình nơ"}),
        ),
        layer=layer,
        name="thua_dat.geojson",
    )
    assert job.status == "succeeded", job.messages
    assert (job.imported_count, job.repaired_count, job.skipped_count) == (2, 1, 0)
    repaired = [m for m in job.messages if m["feature"] == 2]
    assert repaired and "Self-intersection" in repaired[0]["message"]
    for feature in Feature.objects.filter(layer=layer):
        assert feature.geom.valid
        assert feature.geom.geom_type == "MultiPolygon"  # the repaired bowtie is two triangles


def test_empty_geometries_are_skipped_and_counted(layer):
    job = run(
        geojson(
            ({"type": "Point", "coordinates": [107.58, 16.46]}, {"ten": "Có"}),
            (None, {"ten": "Không có hình"}),
            ({"type": "MultiPoint", "coordinates": []}, {"ten": "Rỗng"}),
        ),
        layer=layer,
        name="diem.geojson",
    )
    assert job.status == "succeeded", job.messages
    assert (job.imported_count, job.skipped_count) == (1, 2)
    assert {m["feature"] for m in job.messages if m["message"].startswith("Skipped")} == {2, 3}


def test_z_and_m_are_dropped_and_recorded(layer, tmp_path):
    path = write_layer(
        tmp_path / "cao_do.gpkg",
        [shapely.Point(107.58, 16.46, 12.5)],
        {"ten": ["Núi Ngự Bình"]},
        driver="GPKG",
    )
    job = run(path, layer=layer)
    assert job.status == "succeeded", job.messages
    assert not Feature.objects.get(layer=layer).geom.hasz
    assert any("Z (height)" in m["message"] for m in job.messages)


def test_single_and_multi_parts_are_unified(layer):
    job = run(
        geojson(
            ({"type": "Polygon", "coordinates": [SQUARE]}, {"ten": "Một"}),
            ({"type": "MultiPolygon", "coordinates": [[SQUARE]]}, {"ten": "Nhiều"}),
        ),
        layer=layer,
        name="a.geojson",
    )
    assert job.status == "succeeded", job.messages
    kinds = {f.geom.geom_type for f in Feature.objects.filter(layer=layer)}
    assert kinds == {"MultiPolygon"}
    layer.refresh_from_db()
    assert layer.geometry_type == "polygon"


def test_replace_bumps_the_version_and_updates_count_and_extent(layer):
    version = layer.version
    job = run(
        geojson(({"type": "Point", "coordinates": [107.60, 16.48]}, {"ten": "Mới"})),
        layer=layer,
        name="a.geojson",
    )
    assert job.status == "succeeded", job.messages
    layer.refresh_from_db()
    assert layer.version > version  # +2 when the tile fields change too (tiles.signals)
    assert layer.feature_count == 1
    assert layer.extent.extent == pytest.approx((107.60, 16.48, 107.60, 16.48))
    assert layer.name_field == "ten"
    assert job.report["timings"]["total"] >= 0


def test_append_adds_features_and_merges_the_schema(layer):
    before = layer.feature_count
    job = run(
        geojson(
            ({"type": "Point", "coordinates": [107.60, 16.48]}, {"ten": "Chợ An Cựu", "so": 3}),
        ),
        layer=layer,
        name="a.geojson",
        mode="append",
    )
    assert job.status == "succeeded", job.messages
    layer.refresh_from_db()
    assert layer.feature_count == before + 1
    assert [e["name"] for e in layer.attribute_schema] == ["ten", "so"]
    assert Feature.objects.filter(layer=layer, name="Đại Nội").exists()


def test_append_of_multi_parts_promotes_the_stored_singles(layer):
    job = run(
        geojson(({"type": "MultiPoint", "coordinates": [[107.6, 16.48]]}, {"ten": "Nhiều"})),
        layer=layer,
        name="a.geojson",
        mode="append",
    )
    assert job.status == "succeeded", job.messages
    assert {f.geom.geom_type for f in Feature.objects.filter(layer=layer)} == {"MultiPoint"}


def test_create_mode_publishes_the_new_layer(category):
    from layers.imports import import_layer_create

    layer = import_layer_create(slug="cho-hue", title="Chợ Huế", category=category, user=None)
    assert layer.status == Layer.Status.DRAFT
    job = run(
        geojson(({"type": "Point", "coordinates": [107.5889, 16.4727]}, {"Tên chợ": "Đông Ba"})),
        layer=layer,
        name="cho.geojson",
        mode="create",
    )
    assert job.status == "succeeded", job.messages
    layer.refresh_from_db()
    assert layer.status == Layer.Status.READY
    assert layer.name_field == "ten_cho"
    assert Feature.objects.get(layer=layer).name == "Đông Ba"


def test_a_failed_create_marks_the_new_layer_failed(category):
    from layers.imports import import_layer_create

    layer = import_layer_create(slug="rong", title="Rỗng", category=None, user=None)
    assert layer.category.slug == "other"
    job = run(b"", layer=layer, name="rong.geojson", mode="create")
    assert job.status == "failed"
    layer.refresh_from_db()
    assert layer.status == Layer.Status.FAILED
    assert layer.feature_count == 0


def test_cancelling_leaves_the_layer_as_it_was(layer, tmp_path):
    from django.core.files.base import ContentFile

    from layers.imports import import_cancel, import_job_create, import_run

    before = snapshot(layer)
    upload = ContentFile(
        geojson(({"type": "Point", "coordinates": [107.6, 16.48]}, {"ten": "Mới"})),
        name="a.geojson",
    )
    job = import_job_create(layer=layer, upload=upload, queue=False)

    def cancel_while_reading(done: int, total: int) -> None:
        if done:
            import_cancel(job=job)

    job = import_run(job=job, progress=cancel_while_reading)
    assert job.status == "cancelled"
    assert "cancelled" in job.messages[-1]["message"]
    assert snapshot(layer) == before


def test_a_draft_layer_stays_a_draft(layer):
    Layer.objects.filter(pk=layer.pk).update(status=Layer.Status.DRAFT)
    job = run(
        geojson(({"type": "Point", "coordinates": [107.6, 16.48]}, {"ten": "Mới"})),
        layer=layer,
        name="a.geojson",
    )
    assert job.status == "succeeded", job.messages
    layer.refresh_from_db()
    assert layer.status == Layer.Status.DRAFT
