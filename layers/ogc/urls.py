"""Routes of the OGC API - Features, mounted at /ogc/ (namespace `ogc`)."""

from django.urls import path
from drf_spectacular.views import SpectacularSwaggerView

from . import views

app_name = "ogc"

urlpatterns = [
    path("", views.LandingPageView.as_view(), name="landing"),
    path("conformance", views.ConformanceView.as_view(), name="conformance"),
    path("api", views.ApiDefinitionView.as_view(), name="api"),
    # The same offline Swagger UI as the REST API's docs, reading this API's definition.
    path("api.html", SpectacularSwaggerView.as_view(url_name="ogc:api"), name="api-docs"),
    path("collections", views.CollectionsView.as_view(), name="collections"),
    path("collections/<slug:collection_id>", views.CollectionView.as_view(), name="collection"),
    path("collections/<slug:collection_id>/items", views.ItemsView.as_view(), name="items"),
    path(
        "collections/<slug:collection_id>/items/<str:feature_id>",
        views.ItemView.as_view(),
        name="item",
    ),
]
