"""A page of features reads only its own layer's partition: each partition is keyed (layer, id),
and a page joined to the features by id alone read and sorted every layer's rows (a 1,000-feature
page took 5-6 s beside a second 200,000-feature layer; found by bench/history_import.py)."""

import pytest
from django.db import connection
from psycopg import sql

from layers.features.geojson import VertexBudget, budget_page_sql, rows_sql
from layers.features.query import FeatureQuery
from layers.partitions import partition_name
from layers.services import layer_replace_features
from tests.factories import LayerFactory

from .conftest import hue_records

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_layer(category):
    layer = LayerFactory(slug="lop-khac", category=category, geometry_type="point")
    layer_replace_features(layer=layer, records=hue_records())
    return layer


def plan_of(statement: sql.Composable, params: list) -> str:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("EXPLAIN {}").format(statement), params)
        return "\n".join(line for (line,) in cursor.fetchall())


@pytest.mark.parametrize("kind", ["rows", "budget"])
def test_a_page_reads_only_its_layers_partition(hue_places, other_layer, kind):
    query = FeatureQuery(layer_id=hue_places.pk)
    if kind == "rows":
        statement, params = rows_sql(
            query, select=sql.SQL("f.id"), select_params=[], limit=100, offset=0
        )
    else:
        statement, params = budget_page_sql(
            query, limit=100, offset=0, budget=VertexBudget(max_vertices=10_000)
        )
    plan = plan_of(statement, params)
    assert partition_name(hue_places.pk) in plan
    assert partition_name(other_layer.pk) not in plan, plan
