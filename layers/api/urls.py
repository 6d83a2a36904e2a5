"""Routes of the REST API, mounted at /api/v1/ (namespace `api`)."""

from django.urls import path, re_path

from .exports import LayerExportApi
from .features import FeatureDetailApi, FeatureListApi
from .layers import CategoryListApi, LayerDetailApi, LayerListApi
from .search import IdentifyApi, SearchApi

app_name = "api"

urlpatterns = [
    path("categories/", CategoryListApi.as_view(), name="category-list"),
    path("layers/", LayerListApi.as_view(), name="layer-list"),
    path("layers/<slug:slug>/", LayerDetailApi.as_view(), name="layer-detail"),
    path("layers/<slug:slug>/features/", FeatureListApi.as_view(), name="layer-features"),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/",
        FeatureDetailApi.as_view(),
        name="feature-detail",
    ),
    re_path(
        r"^layers/(?P<slug>[-a-zA-Z0-9_]+)/export\.(?P<fmt>geojson|csv|gpkg|shp\.zip)$",
        LayerExportApi.as_view(),
        name="layer-export",
    ),
    path("search/", SearchApi.as_view(), name="search"),
    path("identify/", IdentifyApi.as_view(), name="identify"),
]
