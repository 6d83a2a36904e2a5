"""The admin's side of imports: an upload form for GIS staff and a job page that updates itself.

`ImportJobAdminMixin` goes in front of the read-only job admin: it adds an "Import a file" page
(`upload/`), a JSON status view the job pages poll (`<id>/status/`), and progress bars that carry
that URL. Jobs stay read-only; the form only creates them, through `layers.imports`.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from . import imports
from .importers.crs import NAMED_CRS
from .importers.encodings import ENCODING_CHOICES
from .importers.uploads import UploadLimitHandler, declared_too_large, limit_uploads
from .models import Category, ImportJob, Layer
from .querysets import can_edit_layers


class ImportUploadForm(forms.Form):
    """A file, where it goes (a layer, or a new one), and how to read it."""

    file = forms.FileField(label=_("file"), help_text=_("GeoJSON, zipped Shapefile, GeoPackage, "
                           "KML/KMZ, CSV, FlatGeobuf, GPX or GML."))  # fmt: skip
    mode = forms.ChoiceField(label=_("mode"), choices=ImportJob.Mode.choices,
                             initial=ImportJob.Mode.REPLACE)  # fmt: skip
    layer = forms.ModelChoiceField(
        label=_("layer"), queryset=Layer.objects.order_by("slug"), required=False,
        help_text=_("The layer to replace or append to."),
    )  # fmt: skip
    new_layer_slug = forms.SlugField(label=_("new layer slug"), required=False)
    new_layer_title = forms.CharField(label=_("new layer title"), required=False, max_length=200)
    category = forms.ModelChoiceField(
        label=_("category"), queryset=Category.objects.all(), required=False,
        help_text=_("Of a new layer; a default category otherwise."),
    )  # fmt: skip
    srid = forms.TypedChoiceField(
        label=_("coordinate system"), required=False, coerce=int, empty_value=None,
        choices=[("", _("From the file"))] + [(c.srid, c.label) for c in NAMED_CRS],
    )  # fmt: skip
    other_srid = forms.IntegerField(
        label=_("other EPSG code"), required=False,
        help_text=_("When the file has no CRS and it is not in the list above."),
    )  # fmt: skip
    encoding = forms.ChoiceField(
        label=_("text encoding"), required=False,
        choices=[("", _("Declared (.cpg) or detected")), *ENCODING_CHOICES],
    )  # fmt: skip
    other_encoding = forms.CharField(
        label=_("other text encoding"), required=False, max_length=60,
        help_text=_("Any encoding name Python knows (big5, cp936, shift_jis, koi8-r…), when "
                    "it is not in the list above."),
    )  # fmt: skip
    source_layer = forms.CharField(label=_("layer in the file"), required=False, max_length=255)
    lon_field = forms.CharField(label=_("longitude column (CSV)"), required=False, max_length=255)
    lat_field = forms.CharField(label=_("latitude column (CSV)"), required=False, max_length=255)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["layer"].label_from_instance = lambda layer: f"{layer.title} ({layer.slug})"

    def clean(self) -> dict:
        data = super().clean()
        if data.get("mode") == ImportJob.Mode.CREATE:
            for name in ("new_layer_slug", "new_layer_title"):
                if not data.get(name):
                    self.add_error(name, _("Needed to create a layer."))
            slug = data.get("new_layer_slug")
            if slug and Layer.objects.filter(slug=slug).exists():
                self.add_error("new_layer_slug", _("A layer with this slug exists."))
        elif not data.get("layer"):
            self.add_error("layer", _("Choose the layer to replace or append to."))
        options = {
            "srid": data.get("other_srid") or data.get("srid"),
            "encoding": data.get("other_encoding") or data.get("encoding"),
            "source_layer": data.get("source_layer"),
            "lon_field": data.get("lon_field"),
            "lat_field": data.get("lat_field"),
        }
        try:
            data["options"] = imports.import_options_clean(options)
        except ValueError as error:
            field, message = error.args
            if field == "srid":
                field = "other_srid"
            elif field == "encoding" and data.get("other_encoding"):
                field = "other_encoding"
            self.add_error(field, message)
        return data


class ImportJobAdminMixin:
    """Upload page, status JSON and self-updating progress for the import job admin."""

    change_form_template = "admin/layers/importjob/change_form.html"
    change_list_template = "admin/layers/importjob/change_list.html"

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("upload/", view(self.upload_entry), name="layers_importjob_upload"),
            path("<int:job_id>/status/", view(self.status_view), name="layers_importjob_status"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {
            **(extra_context or {}),
            "can_upload_import": can_edit_layers(request.user),
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("progress"))
    def progress(self, job: ImportJob) -> str:
        running = job.status in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING)
        return format_html(
            '<progress max="100" value="{}" title="{} / {}" class="import-progress" '
            'data-status-url="{}" data-running="{}"></progress> <span class="import-percent">{}%'
            "</span>",
            job.progress_percent,
            job.progress_done,
            job.progress_total,
            reverse("admin:layers_importjob_status", args=[job.pk]),
            "true" if running else "false",
            job.progress_percent,
        )

    @admin.display(description=_("report"))
    def report_summary(self, job: ImportJob) -> str:
        source = job.report.get("source") or {}
        timings = job.report.get("timings") or {}
        parts = []
        if source:
            layer = f" “{source['layer']}”" if source.get("layer") else ""
            parts.append(
                f"{source.get('format')}{layer} · EPSG:{source.get('srid')} · "
                f"{source.get('encoding')}"
            )
        if timings:
            parts.append(" · ".join(f"{step} {seconds:.2f} s" for step, seconds in timings.items()))
        if job.report.get("layers"):
            parts.append(
                ", ".join(f"{item['name']} ({item['features']})" for item in job.report["layers"])
            )
        return " — ".join(parts) or "—"

    @csrf_exempt  # the CSRF check reads the body: the size limit must come first (below)
    def upload_entry(self, request: HttpRequest):
        """Refuse an oversized upload before its body is read, then show or handle the form."""
        if not can_edit_layers(request.user):
            raise PermissionDenied
        refusal = declared_too_large(request.META) if request.method == "POST" else None
        if refusal:
            # Nothing is read or changed, so no CSRF token is needed to say no.
            return self._refuse_upload(request, refusal)
        handler = limit_uploads(request)

        @csrf_protect
        def checked(request: HttpRequest):
            return self.upload_view(request, handler)

        return checked(request)

    def upload_view(self, request: HttpRequest, handler: UploadLimitHandler | None = None):
        """Show the upload form; on a valid post, create the job and go to its page."""
        if not can_edit_layers(request.user):
            raise PermissionDenied
        form = ImportUploadForm(request.POST or None, request.FILES or None)
        if handler is not None and handler.refusal:
            return self._refuse_upload(request, handler.refusal)
        if request.method == "POST" and form.is_valid():
            job = self._create_job(request, form.cleaned_data)
            return redirect("admin:layers_importjob_change", job.pk)
        return self._upload_page(request, form)

    def _refuse_upload(self, request: HttpRequest, refusal: str):
        messages.error(request, refusal)
        return self._upload_page(request, ImportUploadForm(), status=413)

    def _upload_page(self, request: HttpRequest, form: ImportUploadForm, status: int = 200):
        context = {
            **self.admin_site.each_context(request),
            "title": _("Import a file"),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/layers/importjob/upload.html", context, status=status
        )

    @transaction.atomic
    def _create_job(self, request: HttpRequest, data: dict) -> ImportJob:
        layer = data.get("layer")
        if data["mode"] == ImportJob.Mode.CREATE:
            layer = imports.import_layer_create(
                slug=data["new_layer_slug"],
                title=data["new_layer_title"],
                category=data.get("category"),
                user=request.user,
            )
        return imports.import_job_create(
            layer=layer,
            upload=data["file"],
            mode=data["mode"],
            options=data["options"],
            user=request.user,
        )

    def status_view(self, request: HttpRequest, job_id: int) -> JsonResponse:
        """Return where a job stands, for the progress bars that update themselves."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=job_id)
        response = JsonResponse(
            {
                "status": job.status,
                "status_display": job.get_status_display(),
                "percent": job.progress_percent,
                "done": job.progress_done,
                "total": job.progress_total,
                "imported": job.imported_count,
                "repaired": job.repaired_count,
                "skipped": job.skipped_count,
                "messages": len(job.messages),
                "finished": job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING),
            }
        )
        response["Cache-Control"] = "no-store"
        return response
