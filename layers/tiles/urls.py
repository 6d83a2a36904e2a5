"""URL routes of the tiles: `/tiles/…` (tiles, TileJSON) and the tile-job API under `/api/v1/`."""

from django.urls import path, register_converter

from . import api, views


class SlugListConverter:
    """One slug or several joined by commas: `roads` or `roads,rivers,buildings`."""

    regex = r"[-\w]+(?:,[-\w]+)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(SlugListConverter, "slugs")

app_name = "tiles"

urlpatterns = [
    path("<slugs:slugs>/<int:z>/<int:x>/<int:y>.pbf", views.tile, name="tile"),
    path("<slugs:slugs>.json", views.tilejson, name="tilejson"),
]

api_urlpatterns = [
    path("layers/<slug:slug>/tiles/seed/", api.TileSeedView.as_view(), name="tile-seed"),
    path("tile-jobs/<int:pk>/", api.TileJobView.as_view(), name="tile-job"),
    path("tile-jobs/<int:pk>/cancel/", api.TileJobCancelView.as_view(), name="tile-job-cancel"),
]
