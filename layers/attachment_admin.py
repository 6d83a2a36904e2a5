"""A read-only admin of attachments: what is attached to which feature, by whom, what was removed.

Read-only because adding and removing are recorded changes of a feature, made through the API
(layers/attachments.py); the admin only shows them. `?feature_id=<id>` lists one feature's.
"""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import FeatureAttachment


class RemovedFilter(admin.SimpleListFilter):
    title = _("removed")
    parameter_name = "removed"

    def lookups(self, request, model_admin):
        return [("no", _("Attached")), ("yes", _("Removed"))]

    def queryset(self, request, queryset):
        if self.value() in {"no", "yes"}:
            return queryset.filter(removed_at__isnull=self.value() == "no")
        return queryset


@admin.register(FeatureAttachment)
class FeatureAttachmentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "layer",
        "feature_id",
        "content_type",
        "size_bytes",
        "uploaded_by",
        "uploaded_at",
        "removed_at",
    ]
    list_filter = [RemovedFilter, "content_type", "layer"]
    list_select_related = ["layer", "uploaded_by"]
    search_fields = ["name", "=feature_id"]
    date_hierarchy = "uploaded_at"
    fields = [
        "preview",
        "name",
        "layer",
        "feature_id",
        "content_type",
        "size_bytes",
        "download",
        "uploaded_by",
        "uploaded_at",
        "added_event",
        "removed_by",
        "removed_at",
        "removed_event",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def _url(self, attachment: FeatureAttachment, name: str) -> str:
        return reverse(
            name,
            kwargs={
                "slug": attachment.layer.slug,
                "feature_id": attachment.feature_id,
                "attachment_id": attachment.pk,
            },
        )

    @admin.display(description=_("file"))
    def download(self, attachment: FeatureAttachment) -> str:
        return format_html(
            '<a href="{}">{}</a>', self._url(attachment, "api:attachment-download"), attachment.name
        )

    @admin.display(description=_("thumbnail"))
    def preview(self, attachment: FeatureAttachment) -> str:
        if not attachment.thumbnail:
            return "—"
        return format_html(
            '<img src="{}" alt="" style="max-width: 320px">',
            self._url(attachment, "api:attachment-thumbnail"),
        )
