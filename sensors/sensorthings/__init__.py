"""OGC SensorThings API 1.1 (Part 1: Sensing), read resources over the sensor layers.

`entities.py` maps the entity sets to the sensor models, `filters.py` reads `$filter`,
`query.py` the other query options, `views.py` the resource paths. docs/sensorthings.md.
"""
