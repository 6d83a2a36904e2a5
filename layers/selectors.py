"""Reads: the queries the admin, the API and the map ask about layers."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Value
from django.db.models.functions import Concat, Lower

from .models import Category, ImportJob, Layer, Unaccent


def layers_visible_to(*, user: AbstractBaseUser | AnonymousUser | None):
    """Return the layers the user may see, with their category, in layer-tree order."""
    return Layer.objects.visible_to(user).select_related("category")


def layer_get_visible(*, slug: str, user: AbstractBaseUser | AnonymousUser | None) -> Layer:
    """Return the layer with this slug if the user may see it, else raise Layer.DoesNotExist."""
    return layers_visible_to(user=user).get(slug=slug)


def categories_with_visible_layers(*, user: AbstractBaseUser | AnonymousUser | None):
    """Return the categories that hold at least one layer the user may see."""
    visible = Layer.objects.visible_to(user).values("category_id")
    return Category.objects.filter(pk__in=visible)


def layer_list(
    *, user: AbstractBaseUser | AnonymousUser | None, category: str | None = None, text: str = ""
):
    """Return the visible layers, of one category if given, whose title holds each word of `text`.

    Words match either title without regard to case or accents ("benh vien" finds "Bệnh viện").
    """
    layers = layers_visible_to(user=user)
    if category:
        layers = layers.filter(category__slug=category)
    if text.strip():
        layers = layers.annotate(
            title_text=Unaccent(Lower(Concat("title_vi", Value(" "), "title_en")))
        )
        for word in text.split():
            layers = layers.filter(title_text__contains=Unaccent(Lower(Value(word))))
    return layers


def import_job_get(*, job_id: int) -> ImportJob | None:
    """Return an import job with its layer and uploader, None if there is no such job."""
    return ImportJob.objects.select_related("layer", "created_by").filter(pk=job_id).first()


def import_jobs_latest(*, limit: int = 50):
    """Return the latest import jobs, newest first."""
    return ImportJob.objects.select_related("layer", "created_by").order_by("-created_at")[:limit]
