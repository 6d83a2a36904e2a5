"""Reading a layer's features: queries from request parameters, GeoJSON built in PostgreSQL,
search and identify across layers, and exports to files (views: `layers.api`, `layers.ogc`)."""
