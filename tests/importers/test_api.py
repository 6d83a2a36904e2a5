"""The import API: staff upload and poll; everybody else gets 403; bad options get 400 by name."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from knox.models import AuthToken
from rest_framework.test import APIClient

from layers.models import Feature, ImportJob, Layer
from tests.factories import CategoryFactory

pytestmark = pytest.mark.django_db

CSV = "ten,kinh_do,vi_do\nĐại Nội,107.5786,16.4698\nChợ Đông Ba,107.5889,16.4727\n".encode()


def upload(content: bytes = CSV, name: str = "diem.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


@pytest.fixture
def staff_api(staff) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=staff)[1]}")
    return client


def test_staff_upload_is_accepted_then_the_job_tells_how_it_went(
    staff_api, layer, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            f"/api/v1/layers/{layer.slug}/imports/", {"file": upload(), "mode": "replace"}
        )
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["url"].endswith(f"/api/v1/imports/{body['id']}/")
    assert response["Location"] == body["url"]

    job = staff_api.get(body["url"]).json()
    assert job["status"] == "succeeded", job["messages"]
    assert job["counts"] == {"imported": 2, "repaired": 0, "skipped": 0}
    assert job["progress"]["percent"] == 100
    assert job["layer"] == layer.slug
    assert job["created_by"] == "gis_staff"
    assert set(job["report"]["timings"]) >= {"read", "check", "write", "total"}
    assert list(Feature.objects.filter(layer=layer).values_list("name", flat=True)) == [
        "Đại Nội",
        "Chợ Đông Ba",
    ]


def test_a_new_layer_from_an_upload(staff_api, django_capture_on_commit_callbacks):
    CategoryFactory(slug="tourism")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            "/api/v1/imports/",
            {
                "file": upload(),
                "layer_slug": "diem-moi",
                "title": "Điểm mới",
                "category": "tourism",
            },
        )
    assert response.status_code == 202, response.content
    layer = Layer.objects.get(slug="diem-moi")
    assert layer.category.slug == "tourism"
    assert layer.status == "ready"
    assert layer.feature_count == 2
    assert ImportJob.objects.get(pk=response.json()["id"]).mode == "create"


def test_a_new_layer_without_category_goes_to_the_default_one(
    staff_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_api.post(
            "/api/v1/imports/", {"file": upload(), "layer_slug": "khac", "title": "Khác"}
        )
    assert response.status_code == 202
    assert Layer.objects.get(slug="khac").category.slug == "other"


@pytest.mark.parametrize(
    ("fields", "parameter"),
    [
        ({"mode": "overwrite"}, "mode"),
        ({"mode": "create"}, "mode"),
        ({"srid": "99999"}, "srid"),
        ({"srid": "hue"}, "srid"),
        ({"encoding": "tcvn-klingon"}, "encoding"),
        ({"lon_field": "x"}, "lat_field"),
        ({"file": None}, "file"),
    ],
)
def test_bad_options_answer_400_naming_the_field(staff_api, layer, fields, parameter):
    data = {"file": upload(), **fields}
    if data["file"] is None:
        del data["file"]
    response = staff_api.post(f"/api/v1/layers/{layer.slug}/imports/", data)
    assert response.status_code == 400, response.content
    assert response.json()["parameter"] == parameter
    assert not ImportJob.objects.exists()


def test_new_layer_options_are_checked(staff_api, layer):
    taken = staff_api.post(
        "/api/v1/imports/", {"file": upload(), "layer_slug": layer.slug, "title": "x"}
    )
    assert taken.status_code == 400 and taken.json()["parameter"] == "layer_slug"
    unknown = staff_api.post(
        "/api/v1/imports/", {"file": upload(), "layer_slug": "b", "title": "x", "category": "zz"}
    )
    assert unknown.status_code == 400 and unknown.json()["parameter"] == "category"
    assert not Layer.objects.filter(slug="b").exists()


def test_the_upload_size_limit(staff_api, layer, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10
    response = staff_api.post(f"/api/v1/layers/{layer.slug}/imports/", {"file": upload()})
    assert response.status_code == 413
    assert response.json()["parameter"] == "file"
    assert "at most" in response.json()["detail"]


@pytest.mark.parametrize("who", ["anonymous", "signed_in", "member"])
def test_only_gis_staff_may_import(request, who, layer):
    user = request.getfixturevalue(who)
    client = APIClient()
    if user.is_authenticated:
        client.force_authenticate(user)
    job = ImportJob.objects.create(layer=layer, source_name="a.csv")
    refused = 403 if user.is_authenticated else 401  # nobody signed in: sign in first
    assert (
        client.post(f"/api/v1/layers/{layer.slug}/imports/", {"file": upload()}).status_code
        == refused
    )
    assert client.post("/api/v1/imports/", {"file": upload()}).status_code == refused
    assert client.get(f"/api/v1/imports/{job.pk}/").status_code == refused
    assert client.get("/api/v1/imports/").status_code == refused
    assert client.post(f"/api/v1/imports/{job.pk}/cancel/").status_code == refused


def test_unknown_layer_or_job_is_404(staff_api):
    assert staff_api.post("/api/v1/layers/nope/imports/", {"file": upload()}).status_code == 404
    assert staff_api.get("/api/v1/imports/999999/").status_code == 404


def test_cancel_a_queued_job(staff_api, layer):
    job = ImportJob.objects.create(layer=layer, source_name="a.csv")
    response = staff_api.post(f"/api/v1/imports/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    again = staff_api.post(f"/api/v1/imports/{job.pk}/cancel/")
    assert again.status_code == 400


def test_the_choices_name_vn2000(staff_api):
    body = staff_api.get("/api/v1/imports/options/").json()
    assert {"srid": 9214, "name": "VN-2000 / TM-3 107-00 (Thừa Thiên Huế)"} in body["crs"]
    assert {c["code"] for c in body["encodings"]} >= {"utf-8", "cp1258", "latin-1"}


def test_the_job_list(staff_api, layer):
    ImportJob.objects.create(layer=layer, source_name="a.csv")
    body = staff_api.get("/api/v1/imports/").json()
    assert [job["source_name"] for job in body] == ["a.csv"]
