"""Reads: the queries the admin, the API and the map ask about layers."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .models import Category, Layer


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
