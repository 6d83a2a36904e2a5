"""Streaming a source as Arrow batches shaped for the staging table (pyogrio, GDAL underneath).

Each batch becomes: the feature number (1-based, file order), the geometry as hex WKB (PostGIS reads
it as is), and one column per attribute, text in NFC. No Python loop runs per feature, which is why
a million points read in a couple of seconds.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError, FieldError

from .base import Source
from .encodings import recode_column, recode_name
from .errors import ImportFailed
from .schema import Column, columns_for

BATCH_FEATURES = 50_000


@dataclass
class SourceLayout:
    """What a source holds: its attribute columns (None: skipped), geometry type, feature count."""

    columns: list[Column | None]
    geometry_type: str
    feature_count: int

    @property
    def kept(self) -> list[Column]:
        return [column for column in self.columns if column is not None]


def hex_wkb(array: pa.Array) -> pa.Array:
    """Return binary WKB values as hex strings, in one pass over the whole buffer."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if not pa.types.is_binary(array.type):
        array = array.cast(pa.binary())
    if array.offset:
        array = array.take(pa.array(np.arange(len(array))))  # a copy whose buffers start at 0
    validity, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[: len(array) + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = memoryview(data_buffer)[start:end] if data_buffer is not None else b""
    hex_offsets = ((offsets - start) * 2).astype(np.int32)
    return pa.StringArray.from_buffers(
        len(array),
        pa.py_buffer(hex_offsets.tobytes()),
        pa.py_buffer(binascii.hexlify(data)),
        validity,
        array.null_count,
    )


def _attribute(column: pa.Array, kind: str, transcode: str | None) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if kind == "date":
        return column.cast(pa.string())
    if kind == "text":
        if pa.types.is_list(column.type) or pa.types.is_struct(column.type):
            values = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
            column = pa.array(values, pa.string())
        elif not pa.types.is_string(column.type):
            column = column.cast(pa.string())
        return recode_column(column, transcode)
    return column


def _read_error(source: Source, error: Exception) -> ImportFailed:
    return ImportFailed(f"GDAL cannot read this {source.format_name} file: {error}")


def feature_count(source: Source) -> int:
    """Return how many features the source says it has (0 if it cannot say)."""
    try:
        info = pyogrio.read_info(
            source.path,
            layer=source.layer,
            encoding=source.read_encoding,
            force_feature_count=True,
            **source.open_options,
        )
    except (DataSourceError, DataLayerError) as error:
        raise _read_error(source, error) from error
    return max(0, int(info["features"]))


@contextmanager
def read_batches(
    source: Source, batch_features: int = BATCH_FEATURES
) -> Iterator[tuple[SourceLayout, Iterator[pa.Table]]]:
    """Open a source; yield its layout and an iterator of staging-shaped tables."""
    count = feature_count(source)
    try:
        stream = pyogrio.raw.open_arrow(
            source.path,
            layer=source.layer,
            encoding=source.read_encoding,
            batch_size=batch_features,
            use_pyarrow=True,
            **source.open_options,
        )
        meta, reader = stream.__enter__()
    except (DataSourceError, DataLayerError, FieldError) as error:
        raise _read_error(source, error) from error
    try:
        schema = reader.schema
        geometry_name = meta.get("geometry_name") or "wkb_geometry"
        fields = [
            (recode_name(field.name, source.transcode), field.type)
            for field in schema
            if field.name != geometry_name
        ]
        layout = SourceLayout(
            columns=columns_for(fields),
            geometry_type=str(meta.get("geometry_type") or "Unknown"),
            feature_count=count,
        )
        attribute_names = [field.name for field in schema if field.name != geometry_name]
        yield layout, _tables(source, reader, layout, geometry_name, attribute_names)
    finally:
        stream.__exit__(None, None, None)


def _tables(
    source: Source,
    reader: pa.RecordBatchReader,
    layout: SourceLayout,
    geometry_name: str,
    attribute_names: list[str],
) -> Iterator[pa.Table]:
    first = 1
    batches = iter(reader)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (DataSourceError, DataLayerError, OSError) as error:
            raise ImportFailed(
                f"The file cannot be read past feature {first - 1}: {error}", feature=first
            ) from error
        size = batch.num_rows
        arrays = [pa.array(np.arange(first, first + size, dtype=np.int64))]
        if geometry_name in batch.schema.names:
            arrays.append(hex_wkb(batch.column(geometry_name)))
        else:
            arrays.append(pa.nulls(size, pa.string()))
        for column, name in zip(layout.columns, attribute_names, strict=True):
            if column is not None:
                arrays.append(_attribute(batch.column(name), column.type, source.transcode))
        names = ["n", "geom"] + [f"c{i}" for i in range(len(arrays) - 2)]
        first += size
        yield pa.Table.from_arrays(arrays, names=names)
