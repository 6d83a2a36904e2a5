"""Saved maps in the admin, for staff: who saved what, shared with whom, and its short link."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from .models import SavedMap


@admin.register(SavedMap)
class SavedMapAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "sharing", "group", "short_link", "updated_at")
    list_filter = ("sharing", "group")
    search_fields = ("name", "code", "owner__username")
    list_select_related = ("owner", "group")
    readonly_fields = ("code", "short_link", "created_at", "updated_at")
    raw_id_fields = ("owner",)
    fields = ("name", "owner", "sharing", "group", "code", "short_link", "state",
              "created_at", "updated_at")  # fmt: skip
    date_hierarchy = "updated_at"

    @admin.display(description=_("short link"))
    def short_link(self, saved_map: SavedMap) -> str:
        if not saved_map.pk:
            return "—"
        url = reverse("saved-map", kwargs={"code": saved_map.code})
        return format_html('<a href="{}">{}</a>', url, url)
