"""Exports of a layer's features: GeoJSON and CSV streamed from PostgreSQL; GeoPackage, zipped
Shapefile and KML written by GDAL's `ogr2ogr` from GeoJSON lines that PostgreSQL wrote.

`ogr2ogr` only converts a file we wrote: it never sees the database or a request's values. A
Shapefile gets a `.prj` (of the export's CRS) and a `.cpg` saying UTF-8, so Vietnamese text opens
right in desktop GIS; a Shapefile holds one kind of geometry, so a mixed layer gives one per kind.

In another CRS (`query.srid`, e.g. VN-2000 / TM-3 107-00, EPSG:9214) PostgreSQL transforms the
coordinates as it writes them (`geojson.geometry_sql`), east or longitude first as every file
format here expects; ogr2ogr only labels the file with that CRS (`-a_srs`). A GeoJSON export then
carries GeoJSON 2008's `crs` member, as GDAL writes it: RFC 7946 knows only WGS 84, so a strict
reader would misplace it (docs/api.md).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection
from psycopg import sql

from layers.errors import InvalidParameter, TooLarge, Unavailable
from layers.models import Layer

from . import geojson
from .csvcells import csv_cell
from .query import FeatureQuery, feature_relation, layer_fields, where_sql

# Shapefiles hold one geometry kind each; GeometryCollections fit none and are left out.
SHAPE_KINDS = {
    "points": ("ST_Point", "ST_MultiPoint"),
    "lines": ("ST_LineString", "ST_MultiLineString"),
    "polygons": ("ST_Polygon", "ST_MultiPolygon"),
}
WKT_COLUMN = "WKT"  # the name GDAL's CSV driver reads as geometry
# Told how many features a writer has just written (an export job's progress); it may raise to stop.
OnBatch = Callable[[int], None]


@dataclass(frozen=True)
class ExportFormat:
    """A file format a layer can be exported to."""

    suffix: str
    content_type: str
    streamed: bool


FORMATS = {
    "geojson": ExportFormat("geojson", "application/geo+json", streamed=True),
    "csv": ExportFormat("csv", "text/csv; charset=utf-8", streamed=True),
    "gpkg": ExportFormat("gpkg", "application/geopackage+sqlite3", streamed=False),
    "shp.zip": ExportFormat("shp.zip", "application/zip", streamed=False),
    "kml": ExportFormat("kml", "application/vnd.google-earth.kml+xml", streamed=False),
}
# KML knows one CRS: WGS 84 longitude/latitude (OGC KML 2.2, section 6.2).
KML_SRID = 4326


def check_size(query: FeatureQuery, *, limit: int | None) -> int:
    """Return how many features the export holds, or raise TooLarge past the configured cap."""
    count = geojson.feature_count(query)
    if limit is not None:
        count = min(count, limit)
    maximum = settings.EXPORT_MAX_FEATURES
    if count > maximum:
        raise TooLarge(
            f"The export would hold {count} features; at most {maximum} are exported at once. "
            "Narrow it with bbox or attribute filters.",
        )
    return count


def geojson_chunks(
    layer: Layer,
    query: FeatureQuery,
    *,
    limit: int | None,
    offset: int,
    on_batch: OnBatch | None = None,
) -> Iterator[bytes]:
    """Yield a GeoJSON FeatureCollection of the matching features, as bytes."""
    head = '{"type":"FeatureCollection","name":' + _json_string(layer.slug)
    if query.srid != 4326:
        head += ',"crs":' + json.dumps(geojson.crs_member(query.srid))
    head += ',"features":[\n'
    yield head.encode()
    first = True
    for batch in geojson.feature_page_stream(query, limit=limit, offset=offset):
        yield (("" if first else ",\n") + ",\n".join(batch)).encode()
        first = False
        if on_batch:
            on_batch(len(batch))
    yield b"\n]}\n"


def _srs(query: FeatureQuery) -> str:
    """Return the CRS ogr2ogr labels a file with (`-a_srs`)."""
    return f"EPSG:{int(query.srid)}"


def _json_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def export_columns(layer: Layer, query: FeatureQuery) -> list[str]:
    """Return the attribute columns of a tabular export: those asked for, else the schema's
    fields followed by any other key the features hold."""
    if query.properties is not None:
        return list(query.properties)
    names = list(layer_fields(layer))
    statement = sql.SQL(
        "SELECT key FROM (SELECT DISTINCT jsonb_object_keys(f.attributes) AS key"
        " FROM {features} WHERE f.layer_id = %s) AS keys ORDER BY key"
    ).format(features=feature_relation(query))
    with connection.cursor() as cursor:
        cursor.execute(statement, [layer.pk])
        names += [row[0] for row in cursor.fetchall() if row[0] not in names]
    return names


def csv_chunks(
    layer: Layer,
    query: FeatureQuery,
    *,
    limit: int | None,
    offset: int,
    on_batch: OnBatch | None = None,
) -> Iterator[bytes]:
    """Yield a CSV of the matching features: id, their attributes, and the geometry as WKT.

    It starts with a UTF-8 byte order mark so that spreadsheets read Vietnamese right; GDAL
    skips it and reads the WKT column as the geometry.
    """
    columns = export_columns(layer, query)
    # Each value as text, and whether it is a JSON number (a number is never made text).
    values = sql.SQL(", ").join(
        sql.SQL("f.attributes ->> %s, jsonb_typeof(f.attributes -> %s) = 'number'") for _ in columns
    )
    select = sql.SQL("f.id, {values}ST_AsText({geometry}{digits})").format(
        values=sql.Composed([values, sql.SQL(", ")]) if columns else sql.SQL(""),
        geometry=geojson.geometry_sql(query),
        # Projected: a millimetre, as the GeoJSON; WGS 84 as before (15 digits).
        digits=sql.SQL("")
        if query.srid == 4326
        else sql.SQL(", {}").format(sql.Literal(geojson.coordinate_digits(query.srid))),
    )
    statement, params = geojson.rows_sql(
        query,
        select=select,
        select_params=[name for name in columns for _ in range(2)],
        limit=limit,
        offset=offset,
    )
    numeric_fields = {name for name, field in layer_fields(layer).items() if field.is_numeric}

    def safe_row(row: tuple) -> list:
        cells = [
            csv_cell(row[1 + 2 * i], numeric=row[2 + 2 * i] or name in numeric_fields)
            for i, name in enumerate(columns)
        ]
        return [row[0], *cells, row[-1]]

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = ["id", *columns]
    if WKT_COLUMN in header:
        raise InvalidParameter(
            f"The layer has a field named {WKT_COLUMN}; export it in another format.",
            parameter="format",
        )
    writer.writerow([csv_cell(name) for name in header] + [WKT_COLUMN])
    yield ("\ufeff" + buffer.getvalue()).encode()
    for batch in geojson.stream_rows(statement, params):
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(safe_row(row) for row in batch)
        yield buffer.getvalue().encode()
        if on_batch:
            on_batch(len(batch))


def _write_lines(path: Path, chunks: Iterator[list[str]], on_batch: OnBatch | None) -> int:
    written = 0
    with path.open("w", encoding="utf-8") as handle:
        for batch in chunks:
            handle.write("\n".join(batch))
            handle.write("\n")
            written += len(batch)
            if on_batch:
                on_batch(len(batch))
    return written


def _ogr2ogr(*args: str) -> None:
    command = ["ogr2ogr", "-q", *args]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=settings.EXPORT_TIMEOUT_S)
    except FileNotFoundError:
        raise Unavailable("GDAL's ogr2ogr is not installed on the server.") from None
    except subprocess.TimeoutExpired:
        raise Unavailable("The export took too long; narrow it with bbox or filters.") from None
    except subprocess.CalledProcessError as error:
        message = error.stderr.decode(errors="replace").strip().splitlines()
        raise Unavailable(f"GDAL could not write the export: {message[-1:]}") from None


def write_gpkg(
    layer: Layer,
    query: FeatureQuery,
    *,
    limit: int | None,
    offset: int,
    directory: Path,
    on_batch: OnBatch | None = None,
) -> Path:
    """Write the matching features to a GeoPackage in `directory` and return its path."""
    source, columns, empty = _write_source(layer, query, directory, limit, offset, on_batch)
    target = directory / f"{layer.slug}.gpkg"
    kinds = _kinds_present(query) or _layer_kind(layer)
    # One kind: a typed table (GDAL sees the kind), multi if any feature is; mixed: any geometry.
    geometry_type = []
    if len(kinds) != 1:
        geometry_type = ["-nlt", "GEOMETRY"]
    elif any(kinds.values()):
        geometry_type = ["-nlt", "PROMOTE_TO_MULTI"]
    _ogr2ogr(
        "-f", "GPKG", str(target), str(source),
        "-nln", layer.slug, "-a_srs", _srs(query), *geometry_type,
        *_select(columns), *(_NOTHING if empty else []),
    )  # fmt: skip
    return target


# An export that matches nothing is still a file (an empty layer with the export's columns), as
# the GeoJSON and CSV are: ogr2ogr cannot open an empty source, so it reads one placeholder
# feature and this filter leaves it out.
_NOTHING = ["-where", "1 = 0"]
_PLACEHOLDER_GEOMETRY = {
    "points": {"type": "Point", "coordinates": [0, 0]},
    "lines": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
    "polygons": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
}


def _write_source(
    layer: Layer,
    query: FeatureQuery,
    directory: Path,
    limit: int | None,
    offset: int,
    on_batch: OnBatch | None,
) -> tuple[Path, list[str], bool]:
    """Write the GeoJSON lines ogr2ogr converts; return their path, the export's columns, and
    whether no feature matched (the file then holds a placeholder, left out by `_NOTHING`).

    Every column is in each feature's properties (null where it has none), lists and objects as
    JSON text (`query.flat_properties_sql`).
    """
    source = directory / "features.geojsonl"
    columns = export_columns(layer, query)
    lines = geojson.feature_page_stream(query, limit=limit, offset=offset, columns=columns)
    if _write_lines(source, lines, on_batch):
        return source, columns, False
    (kind,) = _layer_kind(layer)
    placeholder = {
        "type": "Feature",
        "geometry": _PLACEHOLDER_GEOMETRY[kind],
        "properties": dict.fromkeys(columns),
    }
    source.write_text(json.dumps(placeholder, ensure_ascii=False) + "\n", encoding="utf-8")
    return source, columns, True


def _layer_kind(layer: Layer) -> dict[str, bool]:
    """Return the layer's declared geometry kind as `_kinds_present` does (points if mixed), for
    an export with no feature to look at."""
    kind = {"line": "lines", "polygon": "polygons"}.get(layer.geometry_type, "points")
    return {kind: False}


def _select(columns: list[str]) -> list[str]:
    """Return ogr2ogr's arguments to keep the columns in the export's order (schema first).

    Every column is in every line (`_flat_stream`), so none is missing from GDAL's layer. A
    name with a comma cannot be said in `-select`: then GDAL's own order is kept.
    """
    if not columns or any("," in name for name in columns):
        return []
    return ["-select", ",".join(columns)]


def _kinds_present(query: FeatureQuery) -> dict[str, bool]:
    """Return the geometry kinds among the matching features, each with whether any is multi."""
    where, params = where_sql(query)
    statement = sql.SQL(
        "SELECT ST_GeometryType(f.geom), count(*) FROM {features} WHERE {where} GROUP BY 1"
    ).format(features=feature_relation(query), where=where)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        types = dict(cursor.fetchall())
    return {
        kind: names[1] in types
        for kind, names in SHAPE_KINDS.items()
        if any(name in types for name in names)
    }


def write_shapefile_zip(
    layer: Layer,
    query: FeatureQuery,
    *,
    limit: int | None,
    offset: int,
    directory: Path,
    on_batch: OnBatch | None = None,
) -> Path:
    """Write the matching features as zipped Shapefile(s) (.shp, .shx, .dbf, .prj, .cpg)."""
    source, columns, empty = _write_source(layer, query, directory, limit, offset, on_batch)
    kinds = _kinds_present(query) or _layer_kind(layer)
    shapes = directory / "shapes"
    shapes.mkdir()
    for kind, has_multi in kinds.items():
        name = layer.slug if len(kinds) == 1 else f"{layer.slug}_{kind}"
        geometry_types = ",".join(f"'{t.removeprefix('ST_').upper()}'" for t in SHAPE_KINDS[kind])
        _ogr2ogr(
            "-f", "ESRI Shapefile", str(shapes / f"{name}.shp"), str(source),
            "-nln", name, "-a_srs", _srs(query), "-lco", "ENCODING=UTF-8",
            # OGR_GEOMETRY is OGR SQL's name for the geometry type; the list is ours, not a
            # request's.
            *(_NOTHING if empty else ["-where", f"OGR_GEOMETRY IN ({geometry_types})"]),
            *(["-nlt", "PROMOTE_TO_MULTI"] if has_multi else []),
            *_select(columns),
        )  # fmt: skip
    target = directory / f"{layer.slug}.shp.zip"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(shapes.iterdir()):
            archive.write(path, arcname=path.name)
    return target


def check_kml_crs(srid: int) -> None:
    """Refuse a KML export in another CRS than WGS 84, which is the only one KML has."""
    if srid != KML_SRID:
        raise InvalidParameter(
            f"KML is always in WGS 84 longitude/latitude, not EPSG:{srid}: leave out crs, or "
            "choose GeoPackage or Shapefile for a file in VN-2000.",
            parameter="crs",
        )


def write_kml(
    layer: Layer,
    query: FeatureQuery,
    *,
    limit: int | None,
    offset: int,
    directory: Path,
    on_batch: OnBatch | None = None,
) -> Path:
    """Write the matching features to a KML file in `directory` and return its path.

    GDAL's LIBKML driver writes KML 2.2: each feature a Placemark named by the layer's naming
    field, the other attributes typed in ExtendedData (a Schema), the document named by the
    layer's title. Dates stay ISO 8601 text (`DATE_AS_STRING`), as they are stored.
    """
    check_kml_crs(query.srid)
    source, columns, empty = _write_source(layer, query, directory, limit, offset, on_batch)
    target = directory / f"{layer.slug}.kml"
    named = bool(layer.name_field) and (
        query.properties is None or layer.name_field in query.properties
    )
    naming = ["--config", "LIBKML_NAME_FIELD", layer.name_field] if named else []
    _ogr2ogr(
        "-f", "LIBKML", str(target), str(source), "-oo", "DATE_AS_STRING=YES",
        "-nln", layer.slug, "-dsco", f"NAME={layer.title}", *naming, *_select(columns),
        *(_NOTHING if empty else []),
    )  # fmt: skip
    return target
