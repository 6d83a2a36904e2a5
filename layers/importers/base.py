"""The interface every format family implements, and the values that pass between them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyogrio

from .errors import ImportFailed


@dataclass(frozen=True)
class ImportOptions:
    """What the uploader may say about a file; every value is optional."""

    srid: int | None = None
    encoding: str | None = None
    source_layer: str | None = None
    lon_field: str | None = None
    lat_field: str | None = None

    @classmethod
    def from_dict(cls, data: dict) -> ImportOptions:
        """Return the options stored on a job (unknown keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{key: value for key, value in data.items() if key in names and value != ""})


@dataclass(frozen=True)
class Probe:
    """A file on disk, with its first bytes for content sniffing."""

    path: Path
    head: bytes

    @classmethod
    def of(cls, path: Path, size: int = 4096) -> Probe:
        """Return a probe of this file."""
        with open(path, "rb") as stream:
            return cls(path=path, head=stream.read(size))

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()

    @property
    def text_head(self) -> str:
        """Return the first bytes as text, without a byte-order mark and leading blanks."""
        return self.head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")


@dataclass
class Source:
    """What to open with GDAL: a path (or `CSV:`-style name), a layer and the open options.

    `crs` is the file's own CRS (EPSG:… or WKT), None if it has none; `default_srid` applies when
    the format fixes one (GeoJSON, KML and GPX are WGS 84 by definition). `read_encoding` is what
    GDAL is told to read text with; when `transcode` names a code page, the text was read as
    Latin-1 and is decoded again in Python (GDAL's iconv loses the last letter of some CP1258
    values).
    """

    format_name: str
    path: str
    layer: str | None = None
    open_options: dict[str, str] = field(default_factory=dict)
    crs: str | None = None
    default_srid: int | None = None
    read_encoding: str | None = None
    transcode: str | None = None
    notes: list[str] = field(default_factory=list)
    layer_names: list[str] = field(default_factory=list)


class Format:
    """A family of formats GDAL reads: recognise a file by content, then say how to open it."""

    name: str = ""
    #: Extensions that name the family's main file inside an archive.
    extensions: tuple[str, ...] = ()

    def matches(self, probe: Probe) -> bool:
        """Return whether the file is of this family (by content first, then by name)."""
        raise NotImplementedError

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        """Return how to read the file; raise ImportFailed when it cannot be read as given."""
        raise NotImplementedError


def layer_counts(path: str, **open_options: str) -> list[tuple[str, int]]:
    """Return each layer of a dataset with its number of features."""
    names = [str(name) for name, _geometry_type in pyogrio.list_layers(path, **open_options)]
    counts = []
    for name in names:
        info = pyogrio.read_info(path, layer=name, force_feature_count=True, **open_options)
        counts.append((name, max(0, int(info["features"]))))
    return counts


def choose_layer(
    path: str,
    options: ImportOptions,
    *,
    ignore: tuple[str, ...] = (),
    open_options: dict[str, str] | None = None,
) -> tuple[str, list[str]]:
    """Return the layer to import and the names of all layers.

    The uploader's `source_layer` when given; else the only layer with features. A file with
    several such layers cannot be guessed: the error lists them so the uploader can pick one.
    """
    counts = layer_counts(path, **(open_options or {}))
    names = [name for name, _count in counts]
    offered = {"layers": [{"name": name, "features": count} for name, count in counts]}
    if options.source_layer:
        if options.source_layer not in names:
            raise ImportFailed(
                f"The file has no layer “{options.source_layer}”; its layers are: "
                + ", ".join(names)
                + ".",
                details=offered,
            )
        return options.source_layer, names
    with_data = [(name, count) for name, count in counts if count and name not in ignore]
    if len(counts) == 1:
        return names[0], names
    if not with_data:
        raise ImportFailed("The file has no features in any of its layers.")
    if len(with_data) > 1:
        listed = ", ".join(f"“{name}” ({count} features)" for name, count in with_data)
        raise ImportFailed(
            f"The file has {len(with_data)} layers with data: {listed}. "
            "Choose one (source_layer) and import the others separately.",
            details=offered,
        )
    return with_data[0][0], names
