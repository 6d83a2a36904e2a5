"""Routes of the OGC API - Features, mounted at /ogc/ (namespace `ogc`)."""

from django.urls import path
from drf_spectacular.views import SpectacularSwaggerView

from . import queryables, tiles, transactions, views

app_name = "ogc"

urlpatterns = [
    path("", views.LandingPageView.as_view(), name="landing"),
    path("conformance", views.ConformanceView.as_view(), name="conformance"),
    path("api", views.ApiDefinitionView.as_view(), name="api"),
    # The same offline Swagger UI as the REST API's docs, reading this API's definition.
    path("api.html", SpectacularSwaggerView.as_view(url_name="ogc:api"), name="api-docs"),
    path("collections", views.CollectionsView.as_view(), name="collections"),
    path("collections/<slug:collection_id>", views.CollectionView.as_view(), name="collection"),
    path(
        "collections/<slug:collection_id>/items",
        transactions.ItemsWriteView.as_view(),
        name="items",
    ),
    path(
        "collections/<slug:collection_id>/queryables",
        queryables.QueryablesView.as_view(),
        name="queryables",
    ),
    path(
        "collections/<slug:collection_id>/items/<str:feature_id>",
        transactions.ItemWriteView.as_view(),  # Part 4: PUT, PATCH, DELETE; ETag
        name="item",
    ),
    # OGC API - Tiles (layers/ogc/tiles.py): WebMercatorQuad vector tilesets of each collection
    # and of the whole map; tileRow is the grid's y, tileCol its x.
    path("tileMatrixSets", tiles.TileMatrixSetsView.as_view(), name="tile-matrix-sets"),
    path("tileMatrixSets/<str:tms_id>", tiles.TileMatrixSetView.as_view(), name="tile-matrix-set"),
    path(
        "collections/<slug:collection_id>/tiles",
        tiles.CollectionTilesetsView.as_view(),
        name="collection-tilesets",
    ),
    path(
        "collections/<slug:collection_id>/tiles/<str:tms_id>",
        tiles.CollectionTilesetView.as_view(),
        name="collection-tileset",
    ),
    path(
        "collections/<slug:collection_id>/tiles/<str:tms_id>/<int:tile_matrix>/<int:row>/<int:col>",
        tiles.CollectionTileView.as_view(),
        name="collection-tile",
    ),
    path("tiles", tiles.MapTilesetsView.as_view(), name="map-tilesets"),
    path("tiles/<str:tms_id>", tiles.MapTilesetView.as_view(), name="map-tileset"),
    path(
        "tiles/<str:tms_id>/<int:tile_matrix>/<int:row>/<int:col>",
        tiles.MapTileView.as_view(),
        name="map-tile",
    ),
]
