"""Routes of the web map: the map, the investor page, signing in and out, the map's translations."""

from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.i18n import JavaScriptCatalog

from . import views

urlpatterns = [
    path("", views.index, name="map"),
    path("investors/", views.investors, name="investors"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="frontend/login.html", next_page="map"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page="map"), name="logout"),
    path(
        "jsi18n/map/",
        JavaScriptCatalog.as_view(packages=["frontend"]),
        name="map-javascript-catalog",
    ),
]
