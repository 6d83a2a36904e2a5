"""Writes: saving, renaming, sharing and deleting a saved map (the owner's acts)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import IntegrityError, transaction

from layers.errors import Conflict, Forbidden, InvalidData

from . import composition
from .models import SavedMap, new_code
from .selectors import share_groups_of

# A new code is drawn again on the (astronomically rare) clash with an existing one.
CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class Sharing:
    """Who a map is shared with: `private`, `public`, or `group` with the group."""

    kind: str
    group: Group | None = None


def _checked_sharing(*, owner: AbstractBaseUser, sharing: Sharing) -> Sharing:
    if sharing.kind not in SavedMap.Sharing.values:
        raise InvalidData(
            f"sharing must be one of {', '.join(SavedMap.Sharing.values)}.", parameter="sharing"
        )
    if sharing.kind != SavedMap.Sharing.GROUP:
        return Sharing(sharing.kind)
    if sharing.group is None:
        raise InvalidData("A map shared with a group names the group.", parameter="group")
    if not share_groups_of(user=owner).filter(pk=sharing.group.pk).exists():
        raise InvalidData(
            f"You are not a member of the group '{sharing.group.name}': share the map with "
            "one of your own groups.",
            parameter="group",
        )
    return sharing


def _checked_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidData("Give the map a name.", parameter="name")
    if len(name) > 200:
        raise InvalidData("A map's name has at most 200 characters.", parameter="name")
    return name


def saved_map_create(
    *, owner: AbstractBaseUser, name: str, state: object, sharing: Sharing
) -> SavedMap:
    """Save a composition under a name for its owner, with a fresh short code."""
    name = _checked_name(name)
    state = composition.validated(state)
    sharing = _checked_sharing(owner=owner, sharing=sharing)
    if SavedMap.objects.filter(owner=owner).count() >= settings.SAVED_MAPS_PER_USER:
        raise Conflict(
            f"You have {settings.SAVED_MAPS_PER_USER} saved maps, as many as one may keep: "
            "delete one you no longer need.",
            parameter="name",
        )
    for attempt in range(CODE_ATTEMPTS):
        try:
            with transaction.atomic():
                return SavedMap.objects.create(
                    code=new_code(),
                    name=name,
                    owner=owner,
                    state=state,
                    sharing=sharing.kind,
                    group=sharing.group,
                )
        except IntegrityError:
            if attempt == CODE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _require_owner(saved_map: SavedMap, user: AbstractBaseUser) -> None:
    if saved_map.owner_id != user.pk:
        raise Forbidden("Only the map's owner may change or delete it.")


@transaction.atomic
def saved_map_update(
    *,
    saved_map: SavedMap,
    by: AbstractBaseUser,
    name: str | None = None,
    sharing: Sharing | None = None,
    state: object | None = None,
) -> SavedMap:
    """Rename, share differently or save again the owner's map (what is None stays)."""
    _require_owner(saved_map, by)
    if name is not None:
        saved_map.name = _checked_name(name)
    if sharing is not None:
        sharing = _checked_sharing(owner=by, sharing=sharing)
        saved_map.sharing, saved_map.group = sharing.kind, sharing.group
    if state is not None:
        saved_map.state = composition.validated(state)
    saved_map.save()
    return saved_map


def saved_map_delete(*, saved_map: SavedMap, by: AbstractBaseUser) -> None:
    """Delete the owner's map: its short link then answers 404."""
    _require_owner(saved_map, by)
    saved_map.delete()
