"""Routes of the saved maps' REST API, mounted at /api/v1/maps/ (namespace `maps-api`)."""

from django.urls import path

from .api import SavedMapDetailApi, SavedMapGroupsApi, SavedMapListApi

app_name = "maps-api"

urlpatterns = [
    path("", SavedMapListApi.as_view(), name="list"),
    path("groups/", SavedMapGroupsApi.as_view(), name="groups"),
    path("<str:code>/", SavedMapDetailApi.as_view(), name="detail"),
]
