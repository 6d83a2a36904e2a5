"""The REST API under /api/v1/ (Django REST framework); the OGC API lives in `layers.ogc`."""
