"""Fixtures of the import tests: private media and tile folders, a layer with data to protect, and
helpers that write small GIS files with GDAL and run an import the way the worker does."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import shapely
from django.core.files.base import ContentFile
from django.db import connection
from pyogrio.raw import write

from layers.imports import import_job_create, import_run
from layers.models import ImportJob, Layer
from layers.services import FeatureRecord, layer_replace_features
from tests.factories import LayerFactory

DATA = Path(__file__).resolve().parent.parent / "data"  # tests/data: small real files


@pytest.fixture(autouse=True)
def _private_folders(settings, tmp_path):
    """Uploads and tiles of a test go to its own folders, never var/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None
    settings.IMPORT_WORK_DIR = None


@pytest.fixture
def layer(category):
    """A layer of Huế that already holds two features: what a failed import must not touch."""
    from django.contrib.gis.geos import Point

    layer = LayerFactory(slug="dia-diem", category=category, name_field="ten")
    layer_replace_features(
        layer=layer,
        records=[
            FeatureRecord(geom=Point(107.5786, 16.4698, srid=4326), attributes={"ten": "Đại Nội"}),
            FeatureRecord(geom=Point(107.5454, 16.4535, srid=4326), attributes={"ten": "Thiên Mụ"}),
        ],
    )
    layer.refresh_from_db()
    return layer


def snapshot(layer: Layer) -> tuple:
    """Return everything an import could change about a layer."""
    fresh = Layer.objects.get(pk=layer.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, ST_AsEWKT(geom), attributes::text, name FROM layers_feature "
            "WHERE layer_id = %s ORDER BY id",
            [layer.pk],
        )
        features = cursor.fetchall()
    return (
        fresh.version,
        fresh.feature_count,
        fresh.status,
        fresh.attribute_schema,
        fresh.name_field,
        features,
    )


def run(path: Path | bytes, *, layer: Layer, name: str | None = None, mode="replace", **options):
    """Upload a file to a layer and run the import in-process; return the finished job."""
    content = path if isinstance(path, bytes) else Path(path).read_bytes()
    upload = ContentFile(
        content, name=name or (Path(path).name if not isinstance(path, bytes) else "upload")
    )
    job = import_job_create(layer=layer, upload=upload, mode=mode, options=options, queue=False)
    return import_run(job=job)


def errors(job: ImportJob) -> str:
    return " ".join(m["message"] for m in job.messages if m["level"] == "error")


def warnings(job: ImportJob) -> str:
    return " ".join(m["message"] for m in job.messages if m["level"] == "warning")


def write_layer(path: Path, geoms, fields: dict, *, driver: str, crs="EPSG:4326", **kwargs) -> Path:
    """Write geometries (shapely) and attribute columns to a file with GDAL."""
    wkb = shapely.to_wkb(np.asarray(geoms, dtype=object))
    columns = [np.asarray(values, dtype=object) for values in fields.values()]
    kinds = {shapely.get_type_id(g) for g in geoms if g is not None}
    geometry_type = "Unknown" if len(kinds) > 1 else shapely.from_wkb(wkb[0]).geom_type
    write(
        str(path), wkb, columns, list(fields), driver=driver, geometry_type=geometry_type,
        crs=crs, **kwargs,
    )  # fmt: skip
    return path


def zip_files(target: Path, *files: Path, arcnames: list[str] | None = None) -> Path:
    """Zip files into target."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as bundle:
        for index, file in enumerate(files):
            bundle.write(file, arcnames[index] if arcnames else file.name)
    return target


def shapefile_parts(shp: Path) -> list[Path]:
    """Return the files of a Shapefile."""
    return sorted(p for p in shp.parent.iterdir() if p.stem == shp.stem)


@pytest.fixture
def data(tmp_path) -> Path:
    """A writable copy of the small real files."""
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return target
