"""URL routes of the project."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from layers.tiles.urls import api_urlpatterns as tile_api_urlpatterns
from layers.views import healthz
from mapserver.observability.views import metrics_view

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("metrics", metrics_view, name="metrics"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/v1/maps/", include("maps.api_urls")),
    path("api/v1/sensors/", include("sensors.api.urls")),
    path("api/v1/", include("layers.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("ogc/", include("layers.ogc.urls")),
    # OGC SensorThings API 1.1, read resources over the sensor layers (docs/sensorthings.md).
    path("sta/v1.1/", include("sensors.sensorthings.urls")),
    path("tiles/", include("layers.tiles.urls")),
    path("styles/", include("layers.api.styles")),
    path("api/v1/", include(tile_api_urlpatterns)),
    path("", include("maps.urls")),
    path("", include("frontend.urls")),
]
