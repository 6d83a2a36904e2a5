"""Coordinate reference systems: VN-2000 by name, EPSG codes checked, and SRIDs PostGIS can use.

PostGIS caches a transformation per SRID but builds it anew for every row when given a PROJ text, so
every source CRS gets an SRID: EPSG codes missing from PostGIS's table (the VN-2000 TM-3 zones are
newer than it) are added under their own code, and a file's own WKT that names no EPSG code gets a
private one (910000 and up), stored as WKT only (never a PROJ string).

A file's CRS is accepted only as an EPSG code or as WKT that refers to nothing outside itself:
`EXTENSION["PROJ4", …]`, `+init=`, grid files (`+nadgrids`, `PARAMETERFILE`) and URLs make PROJ,
GDAL and then PostgreSQL open files or fetch addresses of the uploader's choosing, so such a CRS is
refused before anything parses it (`check_crs_text`), and nothing of it is echoed back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.contrib.gis.gdal import GDALException, SpatialReference
from django.contrib.gis.gdal.error import SRSException
from django.db import connection, transaction

from .errors import ImportFailed

WGS84 = 4326
PRIVATE_SRID_MIN = 910000
PRIVATE_SRID_MAX = 998999


@dataclass(frozen=True)
class NamedCrs:
    """A CRS offered to the uploader by name."""

    srid: int
    name: str

    @property
    def label(self) -> str:
        return f"EPSG:{self.srid} — {self.name}"


# VN-2000: geographic, the two UTM zones, and the provincial TM-3 zones (k = 0.9999).
VN2000 = [
    NamedCrs(4756, "VN-2000 (kinh độ, vĩ độ)"),
    NamedCrs(3405, "VN-2000 / UTM zone 48N"),
    NamedCrs(3406, "VN-2000 / UTM zone 49N"),
    NamedCrs(9205, "VN-2000 / TM-3 103-00"),
    NamedCrs(9206, "VN-2000 / TM-3 104-00"),
    NamedCrs(9207, "VN-2000 / TM-3 104-30"),
    NamedCrs(9208, "VN-2000 / TM-3 104-45"),
    NamedCrs(9209, "VN-2000 / TM-3 105-30"),
    NamedCrs(9210, "VN-2000 / TM-3 105-45"),
    NamedCrs(9211, "VN-2000 / TM-3 106-00"),
    NamedCrs(9212, "VN-2000 / TM-3 106-15"),
    NamedCrs(9213, "VN-2000 / TM-3 106-30"),
    NamedCrs(9214, "VN-2000 / TM-3 107-00 (Thừa Thiên Huế)"),
    NamedCrs(9215, "VN-2000 / TM-3 107-15"),
    NamedCrs(9216, "VN-2000 / TM-3 107-30"),
    NamedCrs(9217, "VN-2000 / TM-3 108-15"),
    NamedCrs(9218, "VN-2000 / TM-3 108-30"),
]
COMMON = [NamedCrs(4326, "WGS 84 (longitude, latitude)"), NamedCrs(3857, "WGS 84 / Web Mercator")]
NAMED_CRS = COMMON + VN2000


# What makes a CRS definition reach outside itself, and how to say it to the uploader.
OUTSIDE_REFERENCES = [
    (re.compile(r"EXTENSION\s*\[", re.I), "a PROJ4 extension"),
    (re.compile(r"\+?\binit\s*=", re.I), "a PROJ init file"),
    (re.compile(r"\b(nadgrids|geoidgrids|hgridshift|vgridshift|grids?)\s*=", re.I), "a grid file"),
    (re.compile(r"PARAMETERFILE\s*\[|GEOIDMODEL\s*\[", re.I), "a grid file"),
    (re.compile(r"\+proj\s*=|\+[a-z_]+\s*=", re.I), "a PROJ string"),
    (re.compile(r"[a-z][a-z0-9+.-]*://|/vsi", re.I), "a URL or file path"),
]


def check_crs_text(crs: str, *, where: str = "The file's coordinate system") -> None:
    """Raise ImportFailed when a CRS definition refers to files, URLs or PROJ strings."""
    if _epsg_code(crs):
        return
    for pattern, what in OUTSIDE_REFERENCES:
        if pattern.search(crs):
            raise ImportFailed(
                f"{where} refers to {what}, which could make the server read files or addresses "
                "of the file's choosing, so it is not used. Only an EPSG code or a plain WKT "
                "definition is accepted: remove that part (or the .prj) and give the EPSG code "
                "(srid), for example 9214 for VN-2000 / TM-3 107-00 (Thừa Thiên Huế)."
            )


def crs_name(srid: int) -> str:
    """Return the name PROJ gives an EPSG code; raise ValueError if PROJ does not know it."""
    if not 1024 <= srid <= 999999:
        raise ValueError(f"EPSG:{srid} is not an EPSG code.")
    try:
        return SpatialReference(f"EPSG:{srid}").name
    except (GDALException, SRSException) as error:
        raise ValueError(f"EPSG:{srid} is not a CRS known to PROJ.") from error


def _epsg_code(crs: str) -> int | None:
    if crs.upper().startswith("EPSG:") and crs[5:].isdigit():
        return int(crs[5:])
    return None


def _identified_code(reference: SpatialReference) -> int | None:
    try:
        reference.identify_epsg()
    except (GDALException, SRSException):  # no EPSG code matches it
        return None
    code = reference.auth_code(None)
    if reference.auth_name(None) == "EPSG" and code and code.isdigit():
        return int(code)
    return None


def srid_for(crs: str) -> int:
    """Return a PostGIS SRID for a CRS given as `EPSG:n` or WKT, adding it to PostGIS if needed."""
    check_crs_text(crs)
    code = _epsg_code(crs)
    try:
        reference = SpatialReference(f"EPSG:{code}" if code else crs)
    except (GDALException, SRSException) as error:
        raise ImportFailed(
            "The file's coordinate system cannot be read: give its EPSG code "
            "(for VN-2000 Thừa Thiên Huế, EPSG:9214)."
        ) from error
    code = code or _identified_code(reference)
    if not code:
        check_crs_text(reference.wkt)  # what GDAL made of it, as PostGIS would read it
    with transaction.atomic(), connection.cursor() as cursor:
        # One definition per CRS even when two imports register the same one at once.
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext('layers.import.srid'))")
        if code:
            cursor.execute("SELECT 1 FROM spatial_ref_sys WHERE srid = %s", [code])
            if cursor.fetchone() is None:
                cursor.execute(
                    "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
                    "VALUES (%s, 'EPSG', %s, %s, %s)",
                    [code, code, reference.wkt, reference.proj4],
                )
            return code
        cursor.execute(
            "SELECT srid FROM spatial_ref_sys WHERE srtext = %s AND srid BETWEEN %s AND %s",
            [reference.wkt, PRIVATE_SRID_MIN, PRIVATE_SRID_MAX],
        )
        row = cursor.fetchone()
        if row:
            return row[0]
        cursor.execute(
            "SELECT coalesce(max(srid) + 1, %s) FROM spatial_ref_sys WHERE srid BETWEEN %s AND %s",
            [PRIVATE_SRID_MIN, PRIVATE_SRID_MIN, PRIVATE_SRID_MAX],
        )
        srid = cursor.fetchone()[0]
        # WKT only: PostGIS builds the transformation from srtext; a PROJ string made from an
        # upload is never stored where PostgreSQL would act on it.
        cursor.execute(
            "INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text) "
            "VALUES (%s, NULL, NULL, %s, NULL)",
            [srid, reference.wkt],
        )
        return srid
