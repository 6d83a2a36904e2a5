"""Search under load: 200,000 similar names rank a bounded set of candidates (seen in the plan, not
timed), the exact name still comes first, and a search past its time limit is a clear 503."""

import json

import pytest
from django.db import connection
from psycopg import sql

from layers.features.search import search_features, search_sql
from layers.partitions import partition_name
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

SIMILAR = 200_000
EXACT = "Nhà hàng Sông Hương"


@pytest.fixture
def similar_names(category):
    """A public layer of 200,000 restaurants named alike, and one named exactly EXACT, last."""
    layer = LayerFactory(slug="nha-hang", category=category, visibility="public")
    with connection.cursor() as cursor:
        # Generated in SQL (seconds, not minutes); the exact name is written last, so a scan in
        # table order meets 200,000 others before it.
        cursor.execute(
            """
            INSERT INTO layers_feature (layer_id, name, attributes, geom, created_at, updated_at)
            SELECT %s, name, jsonb_build_object('ten', name),
                   ST_SetSRID(ST_MakePoint(107.5 + (i %% 1000) * 0.0001,
                                           16.4 + (i / 1000) * 0.0001), 4326),
                   now(), now()
            FROM (SELECT i, CASE WHEN i > %s THEN %s
                                 ELSE %s || ' ' || lpad(i::text, 6, '0') END AS name
                  FROM generate_series(1, %s + 1) AS i) AS generated
            """,
            [layer.pk, SIMILAR, EXACT, EXACT, SIMILAR],
        )
        cursor.execute("ANALYZE layers_feature")
    return layer


def plan_nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_the_ranking_sees_a_bounded_set_of_candidates(similar_names, settings):
    bound = settings.SEARCH_MAX_CANDIDATES
    statement, params = search_sql(
        layer_ids=[similar_names.pk], text="nha hang song huong", limit=20, max_candidates=bound
    )
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) {}").format(statement), params)
        plan = cursor.fetchone()[0]
    plan = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    nodes = list(plan_nodes(plan))
    # Each of the three candidate sets is cut by its own LIMIT of `bound` rows...
    limits = [node for node in nodes if node["Node Type"] == "Limit" and node["Actual Rows"] > 20]
    assert len(limits) >= 2
    assert all(node["Actual Rows"] <= bound for node in limits)
    # ...the exact name is found through the trigram index (the layer partition's copy of
    # feature_search_trgm), not by reading the table...
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
            [partition_name(similar_names.pk), "%gin_trgm_ops%"],
        )
        (trigram_index,) = cursor.fetchone()
    assert any(node.get("Index Name") == trigram_index for node in nodes)
    # ...and the similarity ranking sorts at most three sets' worth of rows, not 200,001.
    ranking = [
        node
        for node in nodes
        if node["Node Type"] == "Sort" and "similarity" in " ".join(node.get("Sort Key", []))
    ]
    assert ranking
    assert all(node["Plans"][0]["Actual Rows"] <= 3 * bound for node in ranking)


def test_the_exact_name_comes_first_among_200000_similar_ones(api, similar_names):
    response = api().get("/api/v1/search/", {"q": "nha hang song huong", "limit": 5})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [hit["name"] for hit in results][:1] == [EXACT]
    assert len(results) == 5
    # Names that start with the text come next, shortest (then oldest) first.
    assert all(hit["name"].startswith(f"{EXACT} ") for hit in results[1:])
    hits = search_features(layer_ids=[similar_names.pk], text="huong 000042", limit=3)
    assert [hit.name for hit in hits] == [f"{EXACT} 000042"]


def test_a_search_past_its_time_limit_is_a_clear_503(api, similar_names, settings):
    settings.SEARCH_STATEMENT_TIMEOUT_MS = 1
    response = api().get("/api/v1/search/", {"q": "nha hang song huong"})
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "timeout"
    assert "1 ms" in body["detail"] and "longer words" in body["detail"]
    # The limit was local to the search's transaction: the connection works on, unlimited.
    settings.SEARCH_STATEMENT_TIMEOUT_MS = 2000
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM layers_feature WHERE layer_id = %s", [similar_names.pk]
        )
        assert cursor.fetchone()[0] == SIMILAR + 1
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"
