"""The one visibility rule: who sees which layer (anonymous, signed-in, group member, staff)."""

import pytest

from layers.models import Layer
from layers.selectors import categories_with_visible_layers, layer_get_visible, layers_visible_to
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

EXPECTED = {
    "anonymous": {"public"},
    "signed_in": {"public", "internal"},
    "member": {"public", "internal", "restricted"},
    "staff": {"public", "internal", "restricted"},
}


@pytest.mark.parametrize("who", EXPECTED)
def test_each_kind_of_user_sees_exactly_its_layers(request, layers_by_visibility, who):
    user = request.getfixturevalue(who)
    seen = set(layers_visible_to(user=user).values_list("slug", flat=True))
    expected = {layers_by_visibility[kind].slug for kind in EXPECTED[who]}
    assert seen == expected


def test_a_layer_not_visible_is_not_found(layers_by_visibility, anonymous, signed_in):
    with pytest.raises(Layer.DoesNotExist):
        layer_get_visible(slug="internal-layer", user=anonymous)
    with pytest.raises(Layer.DoesNotExist):
        layer_get_visible(slug="restricted-layer", user=signed_in)
    assert layer_get_visible(slug="internal-layer", user=signed_in).visibility == "internal"


def test_member_of_several_groups_sees_a_layer_once(layers_by_visibility, member):
    from django.contrib.auth.models import Group

    other = Group.objects.create(name="investors")
    member.groups.add(other)
    layers_by_visibility["restricted"].groups.add(other)
    slugs = list(layers_visible_to(user=member).values_list("slug", flat=True))
    assert sorted(slugs) == sorted(set(slugs))


def test_drafts_are_for_staff_only(category, signed_in, staff, anonymous):
    LayerFactory(slug="draft-layer", category=category, visibility="public", status="draft")
    assert not layers_visible_to(user=anonymous).filter(slug="draft-layer").exists()
    assert not layers_visible_to(user=signed_in).filter(slug="draft-layer").exists()
    assert layers_visible_to(user=staff).filter(slug="draft-layer").exists()


def test_staff_flag_without_layer_permission_is_an_ordinary_user(layers_by_visibility):
    clerk = UserFactory(username="clerk", is_staff=True)
    seen = set(layers_visible_to(user=clerk).values_list("slug", flat=True))
    assert seen == {"public-layer", "internal-layer"}


def test_inactive_user_sees_public_only(layers_by_visibility, member):
    member.is_active = False
    member.save()
    seen = set(layers_visible_to(user=member).values_list("slug", flat=True))
    assert seen == {"public-layer"}


def test_categories_list_only_those_with_visible_layers(category, anonymous, signed_in):
    hidden = LayerFactory(visibility="internal").category
    assert hidden not in categories_with_visible_layers(user=anonymous)
    assert hidden in categories_with_visible_layers(user=signed_in)


@pytest.mark.parametrize("status", ["draft", "importing", "failed"])
def test_only_ready_layers_are_seen_by_non_staff(category, member, planners, staff, status):
    for visibility in ("public", "internal", "restricted"):
        layer = LayerFactory(
            slug=f"{visibility}-{status}", category=category, visibility=visibility, status=status
        )
        layer.groups.add(planners)
    for user in (None, UserFactory(username="clerk", is_staff=True), member):
        assert not layers_visible_to(user=user).exists()
    assert layers_visible_to(user=staff).count() == 3
