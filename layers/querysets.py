"""Layer querysets; `visible_to` is the one rule for who may see a layer, used by every endpoint."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models import Q


def can_edit_layers(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Return whether the user is GIS staff: may see every layer and change them."""
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or (user.is_staff and user.has_perm("layers.change_layer")))
    )


class LayerQuerySet(models.QuerySet):
    def visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> LayerQuerySet:
        """Return the layers this user may see.

        public: everyone; internal: any signed-in user; restricted: members of the layer's groups.
        GIS staff see every layer, drafts included; nobody else sees a draft.
        """
        if can_edit_layers(user):
            return self.all()
        published = self.exclude(status="draft")
        if user is None or not user.is_authenticated or not user.is_active:
            return published.filter(visibility="public")
        rule = Q(visibility="public") | Q(visibility="internal")
        rule |= Q(visibility="restricted", groups__in=user.groups.all())
        # The groups join may repeat a layer once per matching group: select ids, not rows.
        return published.filter(pk__in=self.filter(rule).values("pk"))
