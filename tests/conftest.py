"""Shared fixtures: users of each kind and layers of each visibility, on the real PostGIS."""

import pytest
from django.contrib.auth.models import Group, Permission

from tests.factories import CategoryFactory, LayerFactory, UserFactory


@pytest.fixture
def category(db):
    return CategoryFactory()


@pytest.fixture
def planners(db):
    return Group.objects.create(name="planners")


@pytest.fixture
def anonymous():
    from django.contrib.auth.models import AnonymousUser

    return AnonymousUser()


@pytest.fixture
def member(planners):
    user = UserFactory(username="member")
    user.groups.add(planners)
    return user


@pytest.fixture
def signed_in(db):
    return UserFactory(username="signed_in")


@pytest.fixture
def staff(db):
    user = UserFactory(username="gis_staff", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="layers"))
    return user


@pytest.fixture
def layers_by_visibility(category, planners):
    public = LayerFactory(slug="public-layer", category=category, visibility="public")
    internal = LayerFactory(slug="internal-layer", category=category, visibility="internal")
    restricted = LayerFactory(slug="restricted-layer", category=category, visibility="restricted")
    restricted.groups.add(planners)
    return {"public": public, "internal": internal, "restricted": restricted}
