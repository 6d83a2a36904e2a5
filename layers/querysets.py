"""Layer querysets; `visible_to` is the one rule for who may see a layer, used by every endpoint."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal

# What decides who may see a layer's data, and so where its tiles may be cached.
ACCESS_FIELDS = ("visibility", "status")

# Sent inside the transaction of a queryset update that changed the visibility or status of
# layers, with `layers`: a list of (id, slug). `save()` has its own signals; a bulk update has
# none, and the tile cache must hear of both (layers/tiles/signals.py).
access_changed = Signal()


def can_edit_layers(user: AbstractBaseUser | AnonymousUser | None) -> bool:
    """Return whether the user is GIS staff: may see every layer and change them."""
    return bool(
        user
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or (user.is_staff and user.has_perm("layers.change_layer")))
    )


def can_edit_features(user: AbstractBaseUser | AnonymousUser | None, layer) -> bool:
    """Return whether the user may create, change and delete the layer's features.

    The edit rule, the one place for it: GIS staff may edit every layer; anyone else must both
    see the layer (`visible_to`) and belong to one of its editor groups.
    """
    if can_edit_layers(user):
        return True
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return type(layer).objects.editable_by(user).filter(pk=layer.pk).exists()


class LayerQuerySet(models.QuerySet):
    def editable_by(self, user: AbstractBaseUser | AnonymousUser | None) -> LayerQuerySet:
        """Return the layers whose features this user may edit (see `can_edit_features`)."""
        if can_edit_layers(user):
            return self.all()
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        editors = self.filter(editor_groups__in=user.groups.all()).values("pk")
        return self.visible_to(user).filter(pk__in=editors)

    def visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> LayerQuerySet:
        """Return the layers this user may see.

        public: everyone; internal: any signed-in user; restricted: members of the layer's groups.
        GIS staff see every layer in any status; everyone else sees only `ready` layers (a draft,
        an import under way or a failed one may hold partial or wrong data).
        """
        if can_edit_layers(user):
            return self.all()
        ready = self.filter(status="ready")
        if user is None or not user.is_authenticated or not user.is_active:
            return ready.filter(visibility="public")
        rule = Q(visibility="public") | Q(visibility="internal")
        rule |= Q(visibility="restricted", groups__in=user.groups.all())
        # The groups join may repeat a layer once per matching group: select ids, not rows.
        return ready.filter(pk__in=self.filter(rule).values("pk"))

    def update(self, **kwargs) -> int:
        """Update the layers; a change of visibility or status is announced by `access_changed`."""
        if not kwargs.keys() & set(ACCESS_FIELDS):
            return super().update(**kwargs)
        with transaction.atomic(using=self.db):
            # Rows locked in id order before the update, as a save locks its row first: the tile
            # cache then takes its own lock, always after the row's (no deadlock between them).
            rows = (
                self.model._base_manager.using(self.db)
                .select_for_update()
                .filter(pk__in=self.values("pk"))
                .order_by("pk")
                .values_list("pk", "slug", *ACCESS_FIELDS)
            )
            before = list(rows)
            count = super().update(**kwargs)
            changed = [
                (pk, slug)
                for pk, slug, *access in before
                if any(
                    kwargs.get(name, value) != value
                    for name, value in zip(ACCESS_FIELDS, access, strict=True)
                )
            ]
            if changed:
                access_changed.send(sender=self.model, layers=changed)
        return count
