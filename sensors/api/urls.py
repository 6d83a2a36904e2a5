"""Routes of the sensors API, mounted at /api/v1/sensors/ (namespace `sensors-api`)."""

from django.urls import path

from .views import LatestApi, ObservationsApi, SeriesApi

app_name = "sensors-api"

urlpatterns = [
    path("observations", ObservationsApi.as_view(), name="observations"),
    path("layers/<slug:slug>/latest", LatestApi.as_view(), name="latest"),
    path("layers/<slug:slug>/stations/<str:code>/series", SeriesApi.as_view(), name="series"),
]
