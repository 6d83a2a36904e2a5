"""CSV from spreadsheets: coordinates in longitude/latitude columns or a WKT column.

Columns are found by common names, English and Vietnamese (lon, lng, x, kinh_do, "Kinh độ"…), or
named by the uploader. The text is decoded here (chosen, else detected) and handed to GDAL as UTF-8.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from .base import Format, ImportOptions, Probe, Source
from .encodings import detect_encoding, text_samples, transcode_text_file
from .errors import ImportFailed
from .schema import plain_name

LON_NAMES = {"lon", "long", "lng", "longitude", "x", "kinh_do", "kinhdo", "toa_do_x", "xcoord"}
LAT_NAMES = {"lat", "latitude", "y", "vi_do", "vido", "toa_do_y", "ycoord"}
WKT_NAMES = {"wkt", "geom", "geometry", "the_geom", "wkt_geom", "shape", "hinh_hoc"}
WKT_START = re.compile(
    r"^\s*(SRID=\d+;\s*)?(MULTI)?(POINT|LINESTRING|POLYGON|GEOMETRYCOLLECTION)\b", re.I
)
SEPARATORS = {",": "COMMA", ";": "SEMICOLON", "\t": "TAB", "|": "PIPE"}


class Delimited(Format):
    name = "CSV"
    extensions = (".csv", ".tsv", ".txt")

    def matches(self, probe: Probe) -> bool:
        if b"\0" in probe.head:
            return False
        first_line = probe.text_head.splitlines()[0] if probe.text_head else ""
        return any(separator in first_line for separator in SEPARATORS)

    def open(self, probe: Probe, options: ImportOptions, workdir: Path) -> Source:
        notes = []
        encoding = options.encoding or detect_encoding(text_samples(probe.path)) or "utf-8"
        if encoding != "utf-8":
            how = "chosen by the uploader" if options.encoding else "detected"
            notes.append(f"Text read as {encoding} ({how}).")
        path = transcode_text_file(probe.path, encoding, workdir / "data.csv")
        with open(path, encoding="utf-8", newline="") as stream:
            sample = stream.read(64 * 1024)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS))
            separator = dialect.delimiter
        except csv.Error:
            separator = ","
        rows = list(csv.reader(io.StringIO(sample), delimiter=separator))
        if not rows:
            raise ImportFailed("The CSV file has no header row.")
        header, first = rows[0], (rows[1] if len(rows) > 1 else [])
        open_options = {
            "SEPARATOR": SEPARATORS[separator],
            "HEADERS": "YES",
            "AUTODETECT_TYPE": "YES",
            "AUTODETECT_SIZE_LIMIT": "0",
            "EMPTY_STRING_AS_NULL": "YES",
            "KEEP_GEOM_COLUMNS": "NO",
        }
        open_options.update(self._geometry_options(header, first, options))
        return Source(
            format_name=self.name,
            path=str(path),
            crs=None,
            default_srid=4326,
            open_options=open_options,
            notes=notes,
        )

    def _geometry_options(self, header: list[str], first: list[str], options: ImportOptions):
        by_plain = {plain_name(name): name for name in header}
        if options.lon_field or options.lat_field:
            for given, label in (
                (options.lon_field, "lon_field"),
                (options.lat_field, "lat_field"),
            ):
                if not given or given not in header:
                    raise ImportFailed(
                        f"The CSV has no column “{given or ''}” ({label}); its columns are: "
                        + ", ".join(header)
                        + "."
                    )
            return {"X_POSSIBLE_NAMES": options.lon_field, "Y_POSSIBLE_NAMES": options.lat_field}
        for index, name in enumerate(header):
            value = first[index] if index < len(first) else ""
            if plain_name(name) in WKT_NAMES and WKT_START.match(value):
                return {"GEOM_POSSIBLE_NAMES": name}
        lon = next((by_plain[n] for n in by_plain if n in LON_NAMES), None)
        lat = next((by_plain[n] for n in by_plain if n in LAT_NAMES), None)
        if lon and lat:
            return {"X_POSSIBLE_NAMES": lon, "Y_POSSIBLE_NAMES": lat}
        raise ImportFailed(
            "The CSV has no coordinates: no longitude/latitude columns (looked for lon, lng, x, "
            "kinh_do… and lat, y, vi_do…) and no WKT column. Its columns are: "
            + ", ".join(header)
            + ". Name the coordinate columns (lon_field, lat_field)."
        )
