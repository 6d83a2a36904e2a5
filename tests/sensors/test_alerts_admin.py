"""The admin shows open sensor alerts on every page and reviews anomalies through actions."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from sensors import evaluation
from sensors.models import Alert, Anomaly, Observation, Threshold
from tests.factories import UserFactory
from tests.sensors.test_anomalies import faulty_water_level, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator(db):
    """A staff member of the operations centre: the sensors' permissions, none on layers."""
    user = UserFactory(username="operator", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="sensors"))
    return user


@pytest.fixture
def sensors_staff(staff):
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="sensors"))
    return type(staff).objects.get(pk=staff.pk)


def test_open_alerts_are_shown_on_admin_pages_to_staff_who_may_see_them(
    client, stations, sources, water_level, operator, signed_in
):
    Threshold.objects.create(property=water_level, level="III", severity="alarm", value=4.0)
    datastream = stations.kim_long.datastreams.create(property=water_level)
    at = timezone.now().replace(microsecond=0) - timedelta(minutes=10)
    Observation.objects.create(datastream=datastream, time=at, value=4.3)
    evaluation.evaluate_datastreams(datastream_ids=[datastream.pk], since=at)
    alert = Alert.objects.get()

    client.force_login(operator)
    page = client.get(reverse("admin:index")).content.decode()
    assert 'id="sensor-alerts"' in page
    assert "KIM_LONG" in page and reverse("admin:sensors_alert_change", args=[alert.pk]) in page
    changelist = reverse("admin:sensors_alert_changelist")
    assert list(client.get(changelist, {"open": "1"}).context["cl"].result_list) == [alert]
    assert list(client.get(changelist, {"open": "0"}).context["cl"].result_list) == []

    # The layer turned restricted to a group the operator is not in: no banner, no row.
    layer = stations.kim_long.layer
    layer.visibility = "restricted"
    layer.save()
    assert 'id="sensor-alerts"' not in client.get(reverse("admin:index")).content.decode()
    assert list(client.get(changelist).context["cl"].result_list) == []

    client.force_login(signed_in)  # not staff: never the banner (the admin refuses anyway)
    assert 'id="sensor-alerts"' not in client.get(reverse("admin:index")).content.decode()


def test_admin_actions_confirm_and_dismiss_anomalies_with_flags_following(
    client, stations, sources, sensors_staff, water_level, django_capture_on_commit_callbacks
):
    water_level.physical_min, water_level.physical_max = -3.0, 15.0
    water_level.save()
    kept, every = faulty_water_level()
    post(sources.river_key, "KIM_LONG", "water_level", kept, django_capture_on_commit_callbacks)
    out_of_range = Anomaly.objects.get(kind="out_of_range")
    spike = Anomaly.objects.get(kind="spike")
    client.force_login(sensors_staff)
    url = reverse("admin:sensors_anomaly_changelist")
    page = client.get(url, {"kind__exact": "spike"}).content.decode()
    assert "KIM_LONG" in page
    client.post(url, {"action": "dismiss", "_selected_action": [out_of_range.pk]})
    client.post(url, {"action": "confirm", "_selected_action": [spike.pk]})
    out_of_range.refresh_from_db()
    spike.refresh_from_db()
    assert (out_of_range.status, out_of_range.reviewed_by) == ("dismissed", sensors_staff)
    assert spike.status == "confirmed"
    datastream = stations.kim_long.datastreams.get()
    assert Observation.objects.get(datastream=datastream, time=every[-1][0]).flag == 0
    assert Observation.objects.get(datastream=datastream, time=every[150][0]).flag == 1
