"""Routes of the sensors API, mounted at /api/v1/sensors/ (namespace `sensors-api`)."""

from django.urls import path

from .alerts import AlertAcknowledgeApi, AlertListApi, AnomalyListApi, AnomalyReviewApi
from .views import LatestApi, ObservationsApi, SeriesApi

app_name = "sensors-api"

urlpatterns = [
    path("observations", ObservationsApi.as_view(), name="observations"),
    path("layers/<slug:slug>/latest", LatestApi.as_view(), name="latest"),
    path("layers/<slug:slug>/stations/<str:code>/series", SeriesApi.as_view(), name="series"),
    # Alerts and anomalies (sensors/api/alerts.py, docs/sensor-alerts.md).
    path("layers/<slug:slug>/alerts", AlertListApi.as_view(), name="alerts"),
    path(
        "layers/<slug:slug>/alerts/<int:alert_id>/acknowledge",
        AlertAcknowledgeApi.as_view(),
        name="alert-acknowledge",
    ),
    path("layers/<slug:slug>/anomalies", AnomalyListApi.as_view(), name="anomalies"),
    path(
        "layers/<slug:slug>/anomalies/<int:anomaly_id>/review",
        AnomalyReviewApi.as_view(),
        name="anomaly-review",
    ),
]
