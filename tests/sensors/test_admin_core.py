"""The admin of sources: a new source's key shown once, kept hashed; a new key replaces the old."""

import re

import pytest
from django.contrib.messages import get_messages

from sensors.models import SensorSource
from sensors.services import key_hash, source_by_key
from tests.factories import UserFactory


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


def shown_key(response) -> str:
    (key,) = [
        match[1]
        for message in get_messages(response.wsgi_request)
        if (match := re.search(r"\b(sk_\S+) ", str(message)))  # in any language
    ]
    return key


@pytest.mark.django_db
def test_a_new_source_shows_its_key_once_and_keeps_its_hash(admin_client):
    answer = admin_client.post(
        "/admin/sensors/sensorsource/add/", {"name": "gauges", "active": "on"}, follow=True
    )
    assert answer.status_code == 200
    key = shown_key(answer)
    source = SensorSource.objects.get(name="gauges")
    assert source.key_hash == key_hash(key) and key not in source.key_hash
    assert key.startswith(source.key_prefix)
    assert source_by_key(key) == source
    # Not shown again on the source's page.
    page = admin_client.get(f"/admin/sensors/sensorsource/{source.pk}/change/")
    assert key not in page.content.decode()


@pytest.mark.django_db
def test_issuing_a_new_key_retires_the_old(admin_client):
    first = admin_client.post(
        "/admin/sensors/sensorsource/add/", {"name": "gauges", "active": "on"}, follow=True
    )
    old_key = shown_key(first)
    source = SensorSource.objects.get(name="gauges")
    old_hash = source.key_hash
    answer = admin_client.post(
        "/admin/sensors/sensorsource/",
        {"action": "issue_new_key", "_selected_action": [source.pk]},
        follow=True,
    )
    key = shown_key(answer)
    source.refresh_from_db()
    assert source.key_hash != old_hash
    assert source_by_key(key) == source
    assert source_by_key(old_key) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "page",
    ["sensorlayer", "observedproperty", "sensorsource", "station", "datastream"],
)
def test_the_lists_open(admin_client, stations, page):
    assert admin_client.get(f"/admin/sensors/{page}/").status_code == 200
