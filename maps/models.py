"""A saved map: a named composition of the web map, its owner, who it is shared with, its code."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from layers.errors import InvalidData

from . import composition

# 8 random bytes, base64url: 11 characters, 64 bits. Unguessable by trying (a billion guesses a
# second would need centuries to find one map among millions), short enough to type from paper.
CODE_BYTES = 8


def new_code() -> str:
    """Return a fresh random short code, URL-safe."""
    return secrets.token_urlsafe(CODE_BYTES)


class SavedMapQuerySet(models.QuerySet):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> SavedMapQuerySet:
        """Return the maps this user may open: their own, public ones, and their groups' ones.

        Staff are no exception: a private map is its owner's (the admin lists them all).
        """
        rule = Q(sharing=SavedMap.Sharing.PUBLIC)
        if user is not None and user.is_authenticated and user.is_active:
            rule |= Q(owner=user)
            rule |= Q(sharing=SavedMap.Sharing.GROUP, group__in=user.groups.all())
        return self.filter(rule)


class SavedMap(models.Model):
    class Sharing(models.TextChoices):
        PRIVATE = "private", _("Only me")
        GROUP = "group", _("A group")
        PUBLIC = "public", _("Anyone with the link")

    code = models.CharField(_("short code"), max_length=16, unique=True, default=new_code)
    name = models.CharField(_("name"), max_length=200)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="saved_maps",
        verbose_name=_("owner"),
    )
    sharing = models.CharField(
        _("shared with"), max_length=16, choices=Sharing, default=Sharing.PRIVATE
    )
    # A deleted group leaves its maps to their owners alone (no member matches a missing group).
    group = models.ForeignKey(
        Group,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="saved_maps",
        verbose_name=_("group"),
    )
    # The web map's composition, checked against maps.composition.SCHEMA on every write.
    state = models.JSONField(_("composition"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = SavedMapQuerySet.as_manager()

    class Meta:
        verbose_name = _("saved map")
        verbose_name_plural = _("saved maps")
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="maps_owner_updated")]
        constraints = [
            models.CheckConstraint(
                condition=Q(sharing="group") | Q(group__isnull=True),
                name="maps_group_only_when_shared_with_one",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Check the composition against its schema (the admin's form goes through here)."""
        try:
            composition.validated(self.state)
        except InvalidData as invalid:
            raise ValidationError({"state": invalid.message}) from invalid
