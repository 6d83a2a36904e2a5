"""Reads: a user's saved maps, and one map as its viewer may open it."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.db.models import Q

from layers.errors import NotFound

from .models import SavedMap


def saved_maps_listed_for(*, user: AbstractBaseUser, scope: str = "all"):
    """Return the user's own maps ("mine"), those of their groups ("shared"), or both ("all").

    Public maps of others are opened by their link, not listed: a list of everyone's public
    maps is not what "My maps" is for.
    """
    mine = Q(owner=user)
    shared = Q(sharing=SavedMap.Sharing.GROUP, group__in=user.groups.all()) & ~Q(owner=user)
    rule = {"mine": mine, "shared": shared, "all": mine | shared}[scope]
    return SavedMap.objects.filter(rule).select_related("owner", "group")


def saved_map_get_visible(*, code: str, user: AbstractBaseUser | AnonymousUser | None) -> SavedMap:
    """Return the map with this code if the user may open it, else raise NotFound.

    One answer for "no such map" and "not yours to see", as for layers.
    """
    found = (
        SavedMap.objects.visible_to(user).select_related("owner", "group").filter(code=code).first()
    )
    if found is None:
        raise NotFound(f"No saved map '{code}'.")
    return found


def share_groups_of(*, user: AbstractBaseUser):
    """Return the groups the user may share a map with: their own (any group for superusers)."""
    groups = Group.objects.all() if user.is_superuser else user.groups.all()
    return groups.order_by("name")
