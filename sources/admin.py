"""The admin of layer sources: connect a layer to another system, set its schedule, sync now,
resume a paused source, and read each run. Credentials are write-only: once saved, the form says
only whether one is set and offers to replace or remove it."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import LayerSource, RunStatus, SourceRun


class LayerSourceForm(forms.ModelForm):
    new_secret = forms.CharField(
        label=_("password or token"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "Write-only: it is never shown again after saving. Leave empty to keep the stored one."
        ),
    )
    clear_secret = forms.BooleanField(
        label=_("remove the stored password or token"), required=False
    )

    class Meta:
        model = LayerSource
        fields = [
            "layer",
            "kind",
            "url",
            "source_layer",
            "options",
            "mode",
            "key_field",
            "auth",
            "username",
            "enabled",
            "interval",
            "crontab",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        stored = self.instance.pk and self.instance.has_secret
        self.fields["new_secret"].label = (
            _("replace the password or token") if stored else _("password or token")
        )
        self.fields["new_secret"].help_text = (
            _("A password or token is set (not shown). Type a new one to replace it.")
            if stored
            else _("Write-only: it is never shown again after saving.")
        )
        if not stored:
            del self.fields["clear_secret"]

    def clean(self):
        data = super().clean()
        source = self.instance
        for name in ("kind", "url", "mode", "key_field", "options", "interval", "crontab"):
            if name in data:
                setattr(source, name, data[name])
        source.interval_id = data["interval"].pk if data.get("interval") else None
        source.crontab_id = data["crontab"].pk if data.get("crontab") else None
        try:
            services.source_clean(source)
        except services.SourceInvalid as error:
            field, message = error.args
            self.add_error(field if field in self.fields else None, message)
        if data.get("options") is not None:
            data["options"] = source.options
        return data


@admin.register(LayerSource)
class LayerSourceAdmin(admin.ModelAdmin):
    form = LayerSourceForm
    list_display = (
        "layer",
        "kind",
        "mode",
        "schedule",
        "enabled",
        "state",
        "consecutive_failures",
        "last_run_at",
    )
    list_filter = ("kind", "mode", "enabled", "last_status")
    search_fields = ("layer__slug", "layer__title_vi", "layer__title_en", "url")
    readonly_fields = (
        "credentials_state",
        "latest_runs",
        "state",
        "consecutive_failures",
        "paused_at",
        "last_run_at",
        "last_success_at",
    )
    actions = ["sync_now", "resume"]
    fieldsets = (
        (None, {"fields": ("layer", "kind", "url", "source_layer", "options")}),
        (_("Writing"), {"fields": ("mode", "key_field")}),
        (
            _("Credentials"),
            {"fields": ("auth", "username", "credentials_state", "new_secret", "clear_secret")},
        ),
        (_("Schedule"), {"fields": ("enabled", "interval", "crontab")}),
        (
            _("State"),
            {
                "fields": (
                    "state",
                    "consecutive_failures",
                    "paused_at",
                    "last_run_at",
                    "last_success_at",
                    "latest_runs",
                )
            },
        ),
    )

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not obj.has_secret:
            fieldsets = [
                (name, {**opts, "fields": tuple(f for f in opts["fields"] if f != "clear_secret")})
                for name, opts in fieldsets
            ]
        return fieldsets

    @admin.display(description=_("password or token"))
    def credentials_state(self, obj: LayerSource) -> str:
        return _("set (not shown)") if obj and obj.has_secret else _("not set")

    @admin.display(description=_("latest runs"))
    def latest_runs(self, obj: LayerSource) -> str:
        if obj is None or obj.pk is None:
            return "-"
        runs = obj.runs.order_by("-started_at", "-id")[:10]
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>+{} ~{} -{} ={}</td><td>{}</td></tr>",
            (
                (
                    formats.localize(timezone.localtime(run.started_at)),
                    run.get_trigger_display(),
                    run.get_status_display(),
                    run.added,
                    run.changed,
                    run.removed,
                    run.unchanged,
                    run.error,
                )
                for run in runs
            ),
        )
        every = reverse("admin:sources_sourcerun_changelist") + f"?source__id__exact={obj.pk}"
        return format_html(
            '<table id="source-runs">{}</table><p><a href="{}">{}</a></p>',
            rows,
            every,
            _("All runs"),
        )

    @admin.display(description=_("schedule"))
    def schedule(self, obj: LayerSource) -> str:
        return str(obj.interval or obj.crontab or _("on demand only"))

    @admin.display(description=_("state"))
    def state(self, obj: LayerSource) -> str:
        if obj.paused_at:
            return format_html('<strong style="color:#ba2121">{}</strong>', _("paused"))
        if obj.last_status == RunStatus.FAILED:
            return format_html('<strong style="color:#ba2121">{}</strong>', _("failing"))
        return obj.get_last_status_display() or _("never run")

    def save_model(self, request, obj, form, change):
        services.source_save(
            source=obj,
            secret=form.cleaned_data.get("new_secret") or None,
            clear_secret=bool(form.cleaned_data.get("clear_secret")),
        )

    @admin.action(description=_("Sync now"), permissions=["change"])
    def sync_now(self, request, queryset):
        waiting = 0
        for source in queryset:
            dispatch = services.source_sync_start(source=source)
            waiting += dispatch.sent is False
        self.message_user(
            request,
            ngettext(
                "%(n)d source queued for a sync.", "%(n)d sources queued for a sync.", len(queryset)
            )
            % {"n": len(queryset)},
            messages.SUCCESS,
        )
        if waiting:
            self.message_user(
                request,
                _("The task queue is down: the syncs will be sent when it is back."),
                messages.WARNING,
            )

    @admin.action(description=_("Resume (after a pause)"), permissions=["change"])
    def resume(self, request, queryset):
        for source in queryset:
            services.source_resume(source=source)
        self.message_user(request, _("Resumed."), messages.SUCCESS)


@admin.register(SourceRun)
class SourceRunAdmin(admin.ModelAdmin):
    list_display = (
        "source",
        "started_at",
        "finished_at",
        "trigger",
        "status",
        "added",
        "changed",
        "removed",
        "unchanged",
    )
    list_filter = ("status", "trigger", "source")
    readonly_fields = [field.name for field in SourceRun._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
