"""OGC API - Features, Part 1 (core, GeoJSON, OpenAPI 3.0) under /ogc/, for QGIS, ArcGIS, GDAL and
OWSLib: the same layers, visibility rule and feature queries as the REST API."""
