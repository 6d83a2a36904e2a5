"""The benchmarks' shared data: a layer of 200,000 synthetic buildings around Huế, made once.

bench/tiles.py and bench/features.py measure on the same layer (same slug, generator and seed);
whichever runs first makes it. Import after `django.setup()`.
"""

from __future__ import annotations

from django.db import connection

from layers.models import Category, Layer
from layers.services import layer_refresh_stats

SLUG = "bench-buildings-200k"
BUILDINGS = 200_000
# Declared so that filters (CQL2, the REST filters) may name the attributes.
SCHEMA = [{"name": "ten", "type": "text"}, {"name": "height", "type": "integer"}]


def say(text: str) -> None:
    print(text, flush=True)


def buildings_layer() -> Layer:
    """Return the layer of 200,000 synthetic buildings around Huế, made once."""
    layer = Layer.objects.filter(slug=SLUG).first()
    if layer and layer.attribute_schema != SCHEMA:
        Layer.objects.filter(pk=layer.pk).update(attribute_schema=SCHEMA)
        layer.refresh_from_db()
    if layer and layer.feature_count == BUILDINGS:
        return layer
    say("Generating 200,000 buildings…")
    category, _ = Category.objects.get_or_create(slug="bench", defaults={"name_vi": "Benchmark"})
    layer = layer or Layer.objects.create(
        slug=SLUG,
        title_vi="Nhà (200.000, tổng hợp)",
        title_en="Buildings (200,000, synthetic)",
        category=category,
        geometry_type="polygon",
        visibility="public",
        status="ready",
        name_field="ten",
        tile_fields=["height"],
        attribute_schema=SCHEMA,
        prebuild_zoom=16,
        max_zoom=18,
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM layers_feature WHERE layer_id = %s", [layer.pk])
        # Rectangles of 8-25 m, rotated, over ~15 x 15 km around the citadel; a fixed seed.
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO layers_feature (layer_id, geom, attributes, name, created_at, updated_at)
            SELECT %(layer)s,
                   ST_Transform(ST_Rotate(ST_MakeEnvelope(cx, cy, cx + w, cy + h, 3857),
                                          angle, cx, cy), 4326),
                   jsonb_build_object('height', height, 'ten', 'Nhà ' || n),
                   'Nhà ' || n, now(), now()
            FROM (
                SELECT n,
                       11975000 + (random() + random() + random() - 1.5) * 5000 AS cx,
                       1859000 + (random() + random() + random() - 1.5) * 5000 AS cy,
                       8 + random() * 17 AS w, 8 + random() * 12 AS h,
                       random() * pi() AS angle, (3 + floor(random() * 30))::int AS height
                FROM generate_series(1, %(count)s) AS n
            ) AS b
            """,
            {"layer": layer.pk, "count": BUILDINGS},
        )
        cursor.execute("DELETE FROM layers_tilechange WHERE layer_id = %s", [layer.pk])
        cursor.execute("ANALYZE layers_feature")
    return layer_refresh_stats(layer=layer)
