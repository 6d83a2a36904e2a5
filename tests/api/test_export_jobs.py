"""Export jobs: made by the API, written by a worker, downloaded by their requester until they
expire; files read back with pyogrio and GDAL."""

import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyogrio
import pytest
from django.utils import timezone

from layers import exports
from layers.jobs import worker_id
from layers.models import ExportJob, JobStatus, Layer
from layers.tasks import exports_cleanup
from tests.api.conftest import HUE_PLACES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ALL_NAMES = sorted(place[0] for place in HUE_PLACES)


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Export files go to this test's own folder, never var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def owner(db):
    return UserFactory(username="export_owner")


def local(url: str) -> str:
    """Return the path and query of an absolute URL the API handed back."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def create(client, slug, capture, **body):
    with capture(execute=True):
        response = client.post(f"/api/v1/layers/{slug}/exports/", body, format="json")
    return response


def read_back(content: bytes, tmp_path: Path, name: str) -> list[str]:
    path = tmp_path / name
    path.write_bytes(content)
    source = f"/vsizip/{path}" if name.endswith(".zip") else str(path)
    meta, _fids, _geometry, fields = pyogrio.raw.read(source)
    names = meta["fields"].tolist()
    return sorted(fields[names.index("ten")].tolist())


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_a_geopackage_job_is_made_run_and_downloaded_by_its_owner(
    api, hue_places, owner, tmp_path, settings, django_capture_on_commit_callbacks
):
    client = api(owner)
    response = create(client, hue_places.slug, django_capture_on_commit_callbacks, format="gpkg")
    assert response.status_code == 202, response.content
    job_url = response["Location"]
    assert job_url.endswith(f"/api/v1/exports/{response.json()['id']}/")

    job = client.get(local(job_url)).json()
    assert job["status"] == "succeeded"
    assert job["progress"] == {"done": 8, "total": 8, "percent": 100}
    assert job["feature_count"] == 8 and job["file_name"] == f"{hue_places.slug}.gpkg"
    expires = timezone.datetime.fromisoformat(job["expires_at"])
    assert abs(expires - (timezone.now() + settings.EXPORT_LINK_TTL)) < timedelta(minutes=1)

    download = client.get(local(job["download_url"]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{hue_places.slug}.gpkg"'
    assert download["Content-Type"] == "application/geopackage+sqlite3"
    assert download["Cache-Control"] == "private, no-store"
    content = body_of(download)
    assert len(content) == job["size_bytes"]
    assert read_back(content, tmp_path, "out.gpkg") == ALL_NAMES
    # The file lives in MEDIA_ROOT/exports under a name nobody can guess.
    stored = list((Path(settings.MEDIA_ROOT) / "exports").iterdir())
    assert len(stored) == 1 and stored[0].name.startswith(f"{hue_places.slug}-")
    assert stored[0].name != f"{hue_places.slug}.gpkg"


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip"])
def test_the_old_export_url_of_a_file_format_sees_other_to_a_job(
    api, hue_places, tmp_path, fmt, django_capture_on_commit_callbacks
):
    client = api()  # anonymous: the job is followed with its key
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            f"/api/v1/layers/{hue_places.slug}/export.{fmt}", {"loai": "bệnh viện"}
        )
    # See Other, to the file itself: what a client following redirects (curl -L, GDAL) gets.
    assert response.status_code == 303
    download_url = response["Location"]
    assert urlsplit(download_url).path == f"/api/v1/exports/{response.json()['id']}/download/"
    key = parse_qs(urlsplit(download_url).query)["key"][0]
    job_url = response.json()["url"]
    job = client.get(local(job_url)).json()
    assert job["status"] == "succeeded"
    assert job["params"] == {"filters": {"loai": "bệnh viện"}}
    assert key in job["download_url"]
    download = client.get(local(download_url))
    assert download.status_code == 200
    assert read_back(body_of(download), tmp_path, f"out.{fmt}") == [
        "Bệnh viện Trung ương Huế",
        "Bệnh viện Đại học Y Dược Huế",
    ]
    # Without the key, or with another job's, an anonymous job is nobody's to follow.
    path = urlsplit(job["download_url"]).path
    assert client.get(path).status_code == 404
    assert client.get(path, {"key": "0" * 32}).status_code == 404
    assert client.get(urlsplit(job_url).path).status_code == 404


def test_small_geojson_streams_inline_and_a_large_one_becomes_a_job(
    api, hue_places, settings, django_capture_on_commit_callbacks
):
    url = f"/api/v1/layers/{hue_places.slug}/export.geojson"
    inline = api().get(url)
    assert inline.status_code == 200 and inline.streaming
    assert not ExportJob.objects.exists()

    settings.EXPORT_INLINE_MAX_FEATURES = 5
    client = api()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(url)
    assert response.status_code == 303
    job = client.get(local(response.json()["url"])).json()
    assert (job["format"], job["status"], job["feature_count"]) == ("geojson", "succeeded", 8)
    download = client.get(local(response["Location"]))
    assert download["Content-Type"] == "application/geo+json"
    assert b"\xc4\x90\xe1\xba\xa1i N\xe1\xbb\x99i" in body_of(download)  # "Đại Nội"


def test_only_the_owner_and_staff_download(
    api, hue_places, owner, signed_in, staff, anonymous, django_capture_on_commit_callbacks
):
    response = create(api(owner), hue_places.slug, django_capture_on_commit_callbacks, format="csv")
    job_id = response.json()["id"]
    download = f"/api/v1/exports/{job_id}/download/"
    key = exports.export_key(ExportJob.objects.get(pk=job_id))
    assert api(owner).get(download).status_code == 200
    assert api(staff).get(download).status_code == 200
    assert api(signed_in).get(download).status_code == 404
    assert api(signed_in).get(f"/api/v1/exports/{job_id}/").status_code == 404
    # A signed-in user's job is not opened by a key: it is theirs alone.
    assert api(anonymous).get(download, {"key": key}).status_code == 404
    assert api(anonymous).get(download).status_code == 404


def test_a_layer_made_private_after_the_export_is_not_downloadable(
    api, hue_places, django_capture_on_commit_callbacks
):
    client = api()
    job = create(client, hue_places.slug, django_capture_on_commit_callbacks, format="gpkg")
    job = client.get(local(job["Location"])).json()
    assert client.get(local(job["download_url"])).status_code == 200

    Layer.objects.filter(pk=hue_places.pk).update(visibility="internal")

    answer = client.get(local(job["download_url"]))
    assert answer.status_code == 404
    assert client.get(local(job["url"])).status_code == 404
    # Nor can a new one be asked for.
    again = create(client, hue_places.slug, django_capture_on_commit_callbacks, format="gpkg")
    assert again.status_code == 404


def test_an_expired_export_is_gone_and_its_file_deleted_by_the_cleanup(
    api, hue_places, owner, settings, django_capture_on_commit_callbacks
):
    client = api(owner)
    response = create(client, hue_places.slug, django_capture_on_commit_callbacks, format="shp")
    job = ExportJob.objects.get(pk=response.json()["id"])
    path = Path(job.file.path)
    assert path.is_file()
    download = f"/api/v1/exports/{job.pk}/download/"

    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    gone = client.get(download)
    assert gone.status_code == 410
    assert gone.json()["code"] == "gone"
    assert "expired" in gone.json()["detail"]
    assert f"/api/v1/layers/{hue_places.slug}/exports/" in gone.json()["detail"]
    assert path.is_file()  # until the cleanup runs

    assert exports_cleanup.delay().get() == 1
    assert not path.exists()
    job.refresh_from_db()
    assert not job.file
    assert client.get(download).status_code == 410
    assert client.get(f"/api/v1/exports/{job.pk}/").json()["download_url"] is None
    assert exports.exports_cleanup() == 0  # nothing left to delete


def test_a_queued_export_is_cancelled_and_never_runs(
    api, hue_places, owner, settings, django_capture_on_commit_callbacks
):
    client = api(owner)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            f"/api/v1/layers/{hue_places.slug}/exports/", {"format": "gpkg"}, format="json"
        )
    job = response.json()
    assert job["status"] == "queued" and job["download_url"] is None
    settings.EXPORT_DOWNLOAD_WAIT_S = 0.3
    not_yet = client.get(f"/api/v1/exports/{job['id']}/download/")
    # Not written yet once the download waited: where it stands, and when to ask again.
    assert not_yet.status_code == 202
    assert not_yet["Retry-After"] == "5"
    assert not_yet.json()["status"] == "queued" and not_yet.json()["download_url"] is None

    cancelled = client.post(f"/api/v1/exports/{job['id']}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    for callback in callbacks:  # the task is sent after all: it finds the job cancelled
        callback()
    row = ExportJob.objects.get(pk=job["id"])
    assert row.status == JobStatus.CANCELLED and not row.file
    assert not (Path(settings.MEDIA_ROOT) / "exports").exists()
    assert client.post(f"/api/v1/exports/{job['id']}/cancel/").status_code == 409


def test_a_running_export_stops_at_its_next_batch_once_cancelled(hue_places, owner):
    job = ExportJob.objects.create(
        layer=hue_places, format="gpkg", status=JobStatus.RUNNING, worker=worker_id()
    )
    progress = exports._Progress(job, total=1000)
    progress(500)
    job.refresh_from_db()
    assert (job.progress_done, job.progress_total) == (500, 1000)
    exports.export_cancel(job=job)
    with pytest.raises(exports.ExportStopped):
        progress(500)


def test_a_requester_has_a_bounded_number_of_exports_under_way(
    api, hue_places, owner, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_MAX_ACTIVE_JOBS = 2
    client = api(owner)
    url = f"/api/v1/layers/{hue_places.slug}/exports/"
    with django_capture_on_commit_callbacks(execute=False):
        first = client.post(url, {"format": "gpkg"}, format="json")
        second = client.post(url, {"format": "shp"}, format="json")
        # Asking again for the same file gives the same job, not a new one.
        repeat = client.post(url, {"format": "gpkg"}, format="json")
        third = client.post(url, {"format": "csv"}, format="json")
    assert [first.status_code, second.status_code, repeat.status_code] == [202, 202, 202]
    assert repeat.json()["id"] == first.json()["id"]
    assert third.status_code == 429
    assert third.json()["code"] == "too-many-jobs"
    assert ExportJob.objects.count() == 2
    # Another requester is not held back by this one's jobs.
    other = api().post(url, {"format": "csv"}, format="json")
    assert other.status_code == 202


def test_bad_export_requests_name_their_parameter(api, hue_places, layers_by_visibility):
    url = f"/api/v1/layers/{hue_places.slug}/exports/"
    client = api()
    bad_format = client.post(url, {"format": "gpx"}, format="json")
    assert bad_format.status_code == 400 and bad_format.json()["parameter"] == "format"
    bad_filter = client.post(url, {"format": "csv", "filters": {"nope": 1}}, format="json")
    assert bad_filter.status_code == 400 and bad_filter.json()["parameter"] == "nope"
    bad_bbox = client.post(url, {"format": "csv", "bbox": [1, 2, 3]}, format="json")
    assert bad_bbox.status_code == 400 and bad_bbox.json()["parameter"] == "bbox"
    hidden = layers_by_visibility["internal"].slug
    assert client.post(f"/api/v1/layers/{hidden}/exports/", {"format": "csv"}).status_code == 404
    assert not ExportJob.objects.exists()


def test_bbox_filters_and_q_narrow_a_job(
    api, hue_places, tmp_path, django_capture_on_commit_callbacks
):
    client = api()
    response = create(
        client,
        hue_places.slug,
        django_capture_on_commit_callbacks,
        format="gpkg",
        bbox=[107.57, 16.44, 107.60, 16.48],
        filters={"so_tang__gte": 2},
        q="benh vien",
    )
    job = client.get(local(response["Location"])).json()
    assert job["params"]["bbox"] == "107.57,16.44,107.6,16.48"
    content = body_of(client.get(local(job["download_url"])))
    assert read_back(content, tmp_path, "narrow.gpkg") == [
        "Bệnh viện Trung ương Huế",
        "Bệnh viện Đại học Y Dược Huế",
    ]


def test_the_schema_describes_the_export_jobs(api):
    paths = api().get("/api/schema/", {"format": "json"}).json()["paths"]
    assert "post" in paths["/api/v1/layers/{slug}/exports/"]
    assert "get" in paths["/api/v1/exports/{job_id}/"]
    download = paths["/api/v1/exports/{job_id}/download/"]["get"]
    assert {"200", "404", "409", "410"} <= set(download["responses"])
    assert "post" in paths["/api/v1/exports/{job_id}/cancel/"]
    assert "303" in paths["/api/v1/layers/{slug}/export.{fmt}"]["get"]["responses"]


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_the_export(celery_worker_process, api, hue_places, owner, tmp_path):
    client = api(owner)
    response = client.post(
        f"/api/v1/layers/{hue_places.slug}/exports/", {"format": "gpkg"}, format="json"
    )
    assert response.status_code == 202, response.content
    job_url = local(response["Location"])
    deadline = time.monotonic() + 60
    job = client.get(job_url).json()
    while job["status"] in {"queued", "running"} and time.monotonic() < deadline:
        time.sleep(0.2)
        job = client.get(job_url).json()
    assert job["status"] == "succeeded", job
    row = ExportJob.objects.get(pk=job["id"])
    assert row.worker and row.worker != worker_id()  # written by the worker, not by this process
    assert Path(row.file.path).is_relative_to(celery_worker_process.media_root)
    content = body_of(client.get(local(job["download_url"])))
    assert read_back(content, tmp_path, "worker.gpkg") == ALL_NAMES


@pytest.mark.django_db(transaction=True)
def test_a_gis_client_following_the_old_url_gets_the_file_a_real_worker_wrote(
    celery_worker_process, api, hue_places, tmp_path
):
    # As `curl -L …/export.gpkg` or GDAL would: one redirect, then the file, no polling.
    client = api()
    response = client.get(f"/api/v1/layers/{hue_places.slug}/export.gpkg")
    assert response.status_code == 303
    download = client.get(local(response["Location"]))
    assert download.status_code == 200, download.content[:300]
    assert read_back(body_of(download), tmp_path, "client.gpkg") == ALL_NAMES


def test_staff_watch_export_jobs_in_the_admin(client, staff, hue_places, owner):
    job = ExportJob.objects.create(
        layer=hue_places,
        format="gpkg",
        status=JobStatus.RUNNING,
        progress_done=250,
        progress_total=1000,
        created_by=owner,
    )
    client.force_login(staff)
    listing = client.get("/admin/layers/exportjob/")
    assert listing.status_code == 200
    assert b'<progress max="100" value="25"' in listing.content
    page = client.get(f"/admin/layers/exportjob/{job.pk}/change/")
    assert page.status_code == 200
    assert b"250 / 1000" in page.content
    assert client.get("/admin/layers/exportjob/add/").status_code == 403


def test_a_cql2_filter_narrows_a_job_asked_for_by_post_or_by_url(
    api, hue_places, tmp_path, django_capture_on_commit_callbacks
):
    """`filter` (CQL2 text or JSON, with filter-lang and filter-crs) reaches the job and its file,
    as on the features: a POSTed job, and the file URL a GIS client follows (303 to the job)."""
    client = api()
    as_text = "so_tang >= 2 AND ten LIKE 'benh vien%'"
    as_json = {
        "op": "and",
        "args": [
            {"op": ">=", "args": [{"property": "so_tang"}, 2]},
            {"op": "like", "args": [{"property": "ten"}, "benh vien%"]},
        ],
    }
    expected = ["Bệnh viện Trung ương Huế", "Bệnh viện Đại học Y Dược Huế"]
    for body in ({"filter": as_text}, {"filter": as_json}):
        response = create(
            client, hue_places.slug, django_capture_on_commit_callbacks, format="gpkg", **body
        )
        assert response.status_code == 202, response.content
        job = client.get(local(response["Location"])).json()
        content = body_of(client.get(local(job["download_url"])))
        assert read_back(content, tmp_path, "filtered.gpkg") == expected
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(
            f"/api/v1/layers/{hue_places.slug}/export.gpkg", {"filter": as_text, "crs": "EPSG:9214"}
        )
    assert response.status_code == 303, response.content
    content = body_of(client.get(local(response["Location"])))
    assert read_back(content, tmp_path, "by-url.gpkg") == expected
    # A bad filter is refused before any job is made, naming the parameter.
    bad = client.post(
        f"/api/v1/layers/{hue_places.slug}/exports/", {"format": "csv", "filter": "nope = 1"},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["parameter"] == "filter"


def test_a_failed_export_says_why_when_its_file_is_asked_for(
    api, hue_places, owner, django_capture_on_commit_callbacks
):
    # A field named WKT cannot be written beside the CSV's own geometry column: the job fails.
    feature = hue_places.features.first()
    feature.attributes = {**feature.attributes, "WKT": "POINT (0 0)"}
    feature.save()
    client = api(owner)
    response = create(client, hue_places.slug, django_capture_on_commit_callbacks, format="csv")
    job = client.get(local(response["Location"])).json()
    assert job["status"] == "failed"
    download = client.get(local(job["download_url"] or response["Location"] + "download/"))
    assert download.status_code == 409
    body = download.json()
    assert "field named WKT" in body["detail"] and "another format" in body["detail"]
    assert body["detail"].startswith("The export failed: ")
    assert "field named WKT" in body["reason"]
