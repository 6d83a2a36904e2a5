"""URL of the SensorThings API: one view reads every resource path (mounted at /sta/v1.1/)."""

from django.urls import path, re_path

from .views import SensorThingsView

app_name = "sensorthings"

urlpatterns = [
    path("", SensorThingsView.as_view(), name="root"),
    re_path(r"^(?P<resource_path>.+)$", SensorThingsView.as_view(), name="resource"),
]
