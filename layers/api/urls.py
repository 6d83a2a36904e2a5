"""Routes of the REST API, mounted at /api/v1/ (namespace `api`)."""

from django.urls import path, re_path

from .attachments import (
    AttachmentDetailApi,
    AttachmentDownloadApi,
    AttachmentListApi,
    AttachmentThumbnailApi,
)
from .auth import LoginApi, LogoutAllApi, LogoutApi
from .dcat import DcatCatalogApi, LayerIsoMetadataApi
from .export_jobs import (
    ExportJobCancelApi,
    ExportJobDetailApi,
    ExportJobDownloadApi,
    LayerExportJobApi,
)
from .exports import LayerExportApi
from .features import FeatureDetailApi, FeatureListApi
from .history import FeatureHistoryApi, FeatureRestoreApi, LayerChangesApi
from .imports import (
    ImportCancelApi,
    ImportDetailApi,
    ImportListApi,
    ImportOptionsApi,
    LayerImportApi,
)
from .layers import CategoryListApi, LayerDetailApi, LayerListApi
from .search import IdentifyApi, SearchApi

app_name = "api"

urlpatterns = [
    path("auth/login/", LoginApi.as_view(), name="auth-login"),
    path("auth/logout/", LogoutApi.as_view(), name="auth-logout"),
    path("auth/logoutall/", LogoutAllApi.as_view(), name="auth-logoutall"),
    path("categories/", CategoryListApi.as_view(), name="category-list"),
    path("catalog/", DcatCatalogApi.as_view(), name="dcat-catalog"),
    path(
        "layers/<slug:slug>/metadata.xml", LayerIsoMetadataApi.as_view(), name="layer-metadata-iso"
    ),
    path("layers/", LayerListApi.as_view(), name="layer-list"),
    path("layers/<slug:slug>/", LayerDetailApi.as_view(), name="layer-detail"),
    path("layers/<slug:slug>/features/", FeatureListApi.as_view(), name="layer-features"),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/",
        FeatureDetailApi.as_view(),
        name="feature-detail",
    ),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/history/",
        FeatureHistoryApi.as_view(),
        name="feature-history",
    ),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/restore/",
        FeatureRestoreApi.as_view(),
        name="feature-restore",
    ),
    path("layers/<slug:slug>/changes/", LayerChangesApi.as_view(), name="layer-changes"),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/attachments/",
        AttachmentListApi.as_view(),
        name="attachment-list",
    ),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/attachments/<int:attachment_id>/",
        AttachmentDetailApi.as_view(),
        name="attachment-detail",
    ),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/attachments/<int:attachment_id>/download/",
        AttachmentDownloadApi.as_view(),
        name="attachment-download",
    ),
    path(
        "layers/<slug:slug>/features/<int:feature_id>/attachments/<int:attachment_id>/thumbnail/",
        AttachmentThumbnailApi.as_view(),
        name="attachment-thumbnail",
    ),
    re_path(
        r"^layers/(?P<slug>[-a-zA-Z0-9_]+)/export\.(?P<fmt>geojson|csv|gpkg|shp\.zip|kml)$",
        LayerExportApi.as_view(),
        name="layer-export",
    ),
    path("layers/<slug:slug>/exports/", LayerExportJobApi.as_view(), name="layer-exports"),
    path("exports/<int:job_id>/", ExportJobDetailApi.as_view(), name="export-detail"),
    path("exports/<int:job_id>/download/", ExportJobDownloadApi.as_view(), name="export-download"),
    path("exports/<int:job_id>/cancel/", ExportJobCancelApi.as_view(), name="export-cancel"),
    path("layers/<slug:slug>/imports/", LayerImportApi.as_view(), name="layer-imports"),
    path("imports/", ImportListApi.as_view(), name="import-list"),
    path("imports/options/", ImportOptionsApi.as_view(), name="import-options"),
    path("imports/<int:job_id>/", ImportDetailApi.as_view(), name="import-detail"),
    path("imports/<int:job_id>/cancel/", ImportCancelApi.as_view(), name="import-cancel"),
    path("search/", SearchApi.as_view(), name="search"),
    path("identify/", IdentifyApi.as_view(), name="identify"),
]
