"""The admin's import page for GIS staff, and job pages whose progress bar updates by itself."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from layers.models import Feature, ImportJob, Layer
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CSV = "ten,kinh_do,vi_do\nĐại Nội,107.5786,16.4698\n".encode()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def test_staff_upload_a_file_and_land_on_the_job_page(
    staff_client, layer, django_capture_on_commit_callbacks
):
    page = staff_client.get(reverse("admin:layers_importjob_changelist")).content.decode()
    assert reverse("admin:layers_importjob_upload") in page
    assert "Nhập dữ liệu từ tệp" in page  # the admin speaks Vietnamese by default

    form = staff_client.get(reverse("admin:layers_importjob_upload")).content.decode()
    assert "VN-2000 / TM-3 107-00 (Thừa Thiên Huế)" in form
    assert "CP1258 (Windows Vietnamese)" in form

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:layers_importjob_upload"),
            {"file": SimpleUploadedFile("diem.csv", CSV), "mode": "replace", "layer": layer.pk},
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:layers_importjob_change", args=[job.pk])
    job.refresh_from_db()
    assert job.status == "succeeded", job.messages
    assert job.created_by.username == "gis_staff"
    assert list(Feature.objects.filter(layer=layer).values_list("name", flat=True)) == ["Đại Nội"]


def test_a_new_layer_from_the_admin(staff_client, category, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(
            reverse("admin:layers_importjob_upload"),
            {"file": SimpleUploadedFile("a.csv", CSV), "mode": "create",
             "new_layer_slug": "moi", "new_layer_title": "Mới", "category": category.pk},
        )  # fmt: skip
    assert Layer.objects.get(slug="moi").feature_count == 1


def test_the_form_says_what_is_wrong(staff_client, layer, settings):
    settings.LANGUAGE_CODE = "en"
    response = staff_client.post(
        reverse("admin:layers_importjob_upload"),
        {"file": SimpleUploadedFile("a.csv", CSV), "mode": "replace", "other_srid": 99999},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Choose the layer to replace or append to." in page
    assert "EPSG:99999" in page
    assert not ImportJob.objects.exists()


def test_a_running_job_page_polls_its_status(staff_client, layer):
    job = ImportJob.objects.create(
        layer=layer, source_name="a.csv", status="running", progress_done=30, progress_total=120
    )
    page = staff_client.get(reverse("admin:layers_importjob_change", args=[job.pk])).content
    page = page.decode()
    status_url = reverse("admin:layers_importjob_status", args=[job.pk])
    assert f'data-status-url="{status_url}"' in page
    assert 'data-running="true"' in page and 'value="25"' in page
    assert "window.location.reload()" in page

    status = staff_client.get(status_url).json()
    assert status["percent"] == 25 and status["finished"] is False
    job.status = "succeeded"
    job.save()
    assert staff_client.get(status_url).json()["finished"] is True


def test_only_gis_staff_may_upload(client, layer):
    clerk = UserFactory(username="clerk", is_staff=True)  # staff without the layer permissions
    client.force_login(clerk)
    response = client.get(reverse("admin:layers_importjob_upload"))
    assert response.status_code == 403
