"""The layers app: models, admin, import, tiles, API and tasks of the map-layer server."""
