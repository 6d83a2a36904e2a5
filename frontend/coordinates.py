"""The projected coordinate system the web map shows beside WGS 84 (VN-2000, a TM-3 zone).

The browser transforms with proj4js from the same proj4 string PostGIS holds in spatial_ref_sys,
so the coordinates the map shows agree with what the server (ST_Transform) computes, and changing
the zone is a setting (WEBMAP_VN2000_SRID), not a change of JavaScript.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.db import connection

# "VN-2000 / TM-3 107-00" is how EPSG writes a central meridian of 107°00' (shown with a prime).
_MERIDIAN = re.compile(r"(\d+)-(\d{2})$")


@lru_cache(maxsize=8)
def projected_crs(srid: int) -> dict | None:
    """Return {"srid", "name", "proj4"} of an SRID in spatial_ref_sys, or None when it is absent.

    spatial_ref_sys does not change while the server runs: each SRID is read once per process.
    """
    row = connection.ops.spatial_ref_sys().objects.filter(srid=srid).first()
    if row is None or not (row.proj4text or "").strip():
        return None
    return {
        "srid": srid,
        "name": _MERIDIAN.sub(lambda m: f"{m[1]}°{m[2]}\N{PRIME}", row.name or f"EPSG:{srid}"),
        "proj4": row.proj4text.strip(),
    }
