"""Routes of the short links: /m/{code} and its QR code."""

from django.urls import path

from . import views

urlpatterns = [
    path("m/<str:code>", views.saved_map, name="saved-map"),
    path("m/<str:code>/qr.svg", views.saved_map_qr, name="saved-map-qr"),
]
