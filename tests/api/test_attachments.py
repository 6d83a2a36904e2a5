"""Attachments of features through the REST API: real JPEG, PNG and PDF files, files that lie about
their kind, the size limit, thumbnails, who may see and change them, removal into the history, and
the files going with their layer."""

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from PIL import Image
from pypdf import PdfReader, PdfWriter

from layers import attachments
from layers.models import ChangeEvent, Feature, FeatureAttachment
from layers.services import FeatureRecord, WriteContext, layer_replace_features
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

LAYER = "dia-diem-hue"


def jpeg_bytes(width=800, height=600, colour=(180, 40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "JPEG", quality=90)
    return out.getvalue()


def png_bytes(width=640, height=200, alpha=True) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if alpha else "RGB"
    image = Image.new(mode, (width, height), (20, 90, 200, 0) if alpha else (20, 90, 200))
    # A solid square on a transparent ground: the thumbnail must keep it and whiten the rest.
    image.paste((20, 90, 200, 255) if alpha else (0, 0, 0), (0, 0, 100, 100))
    image.save(out, "PNG")
    return out.getvalue()


def pdf_bytes(pages=2, password=None) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    if password is not None:
        writer.encrypt(user_password=password, owner_password="chu-so-huu", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def upload(name: str, data: bytes, content_type="application/octet-stream"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    """Each test stores its files in a folder of its own, never var/media."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def editor(hue_places):
    group = Group.objects.create(name="ban-quan-ly-di-tich")
    hue_places.editor_groups.add(group)
    user = UserFactory(username="bien_tap_vien")
    user.groups.add(group)
    return user


@pytest.fixture
def feature(hue_places) -> Feature:
    return Feature.objects.filter(layer=hue_places).order_by("id").first()


def list_url(feature: Feature, slug: str = LAYER) -> str:
    return f"/api/v1/layers/{slug}/features/{feature.pk}/attachments/"


def attach(client, feature, name, data, content_type="application/octet-stream", slug=LAYER):
    return client.post(
        list_url(feature, slug), {"file": upload(name, data, content_type)}, format="multipart"
    )


def media_files(root: Path) -> list[Path]:
    return sorted(path for path in Path(root).rglob("*") if path.is_file())


# --- what is accepted -----------------------------------------------------------------------


def test_an_editor_attaches_a_photo_and_gets_a_thumbnail(api, editor, feature, _private_media):
    photo = jpeg_bytes(1600, 1200)
    response = attach(api(editor), feature, "Đại Nội - cổng Ngọ Môn.jpg", photo, "image/jpeg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Đại Nội - cổng Ngọ Môn.jpg"
    assert body["content_type"] == "image/jpeg"
    assert body["size"] == len(photo)
    assert body["uploaded_by"] == "bien_tap_vien"
    base = f"http://testserver{list_url(feature)}{body['id']}/"
    assert response["Location"] == base
    assert body["url"] == base + "download/"
    assert body["thumbnail_url"] == base + "thumbnail/"

    # The original, byte for byte, under its own name (RFC 6266 encoding for Vietnamese).
    download = api().get(body["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == photo
    assert download["Content-Type"] == "image/jpeg"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"] == (
        "inline; filename*=utf-8''%C4%90%E1%BA%A1i%20N%E1%BB%99i%20-%20c%E1%BB%95ng%20Ng%E1%BB%8D"
        "%20M%C3%B4n.jpg"
    )
    assert download["Cache-Control"] == "public, max-age=3600"  # a public layer

    thumbnail = api().get(body["thumbnail_url"])
    assert thumbnail.status_code == 200
    assert thumbnail["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as image:
        assert image.format == "JPEG"
        assert image.size == (320, 240)

    # Written once, at upload: the stored original and thumbnail are the only files.
    stored = FeatureAttachment.objects.get(pk=body["id"])
    assert {str(p.relative_to(_private_media)) for p in media_files(_private_media)} == {
        stored.file.name,
        stored.thumbnail.name,
    }
    assert "Ngọ" not in stored.file.name  # stored under a random name


def test_a_sideways_phone_photo_gets_an_upright_thumbnail(api, editor, feature):
    out = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90° clockwise to show
    Image.new("RGB", (800, 400), (10, 120, 40)).save(out, "JPEG", exif=exif)
    body = attach(api(editor), feature, "dien-thoai.jpg", out.getvalue()).json()
    thumbnail = api().get(body["thumbnail_url"])
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as image:
        assert image.size == (160, 320)
        assert not image.getexif()  # nothing of the photo's metadata is copied


def test_one_attachment_is_described_at_its_own_url(api, editor, feature):
    body = attach(api(editor), feature, "a.jpg", jpeg_bytes()).json()
    detail = api().get(f"{list_url(feature)}{body['id']}/")
    assert detail.status_code == 200
    assert detail.json() == body | {"uploaded_by": None}
    assert api().get(f"{list_url(feature)}{body['id'] + 1000}/").status_code == 404


def test_a_transparent_png_gets_a_white_ground_thumbnail(api, editor, feature):
    body = attach(api(editor), feature, "so-do.png", png_bytes(), "image/png").json()
    assert body["content_type"] == "image/png"
    thumbnail = api().get(body["thumbnail_url"])
    with Image.open(io.BytesIO(b"".join(thumbnail.streaming_content))) as image:
        assert image.size == (320, 100)
        assert image.getpixel((300, 90)) == pytest.approx((255, 255, 255), abs=3)
        assert image.getpixel((10, 10)) == pytest.approx((20, 90, 200), abs=6)


def test_a_pdf_is_accepted_without_thumbnail_and_saved_as_a_download(api, editor, feature):
    document = pdf_bytes(pages=3)
    response = attach(api(editor), feature, "Quyết định 123.pdf", document, "application/pdf")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["content_type"] == "application/pdf"
    assert body["thumbnail_url"] is None
    download = api().get(body["url"])
    data = b"".join(download.streaming_content)
    assert data == document
    assert len(PdfReader(io.BytesIO(data)).pages) == 3
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment; filename*=utf-8''Quy")
    assert download["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert api().get(body["url"].replace("download/", "thumbnail/")).status_code == 404


def test_a_pdf_protected_by_a_password_is_refused_but_not_one_only_limited(api, editor, feature):
    client = api(editor)
    response = attach(client, feature, "mat.pdf", pdf_bytes(password="bi-mat"))
    assert response.status_code == 400
    assert "protected by a password" in response.json()["detail"]
    # Encrypted with an empty user password: anyone can open it, so it is accepted.
    assert attach(client, feature, "han-che.pdf", pdf_bytes(password="")).status_code == 201


def test_the_list_shows_what_is_attached_oldest_first(api, editor, feature):
    client = api(editor)
    first = attach(client, feature, "a.jpg", jpeg_bytes()).json()
    second = attach(client, feature, "b.pdf", pdf_bytes()).json()
    listed = api().get(list_url(feature))
    assert listed.status_code == 200
    results = listed.json()["results"]
    assert [item["id"] for item in results] == [first["id"], second["id"]]
    assert set(results[0]) == {
        "id", "name", "content_type", "size", "url", "thumbnail_url", "uploaded_by", "uploaded_at"
    }  # fmt: skip
    # Who uploaded is the editors' business, as the history is.
    assert results[0]["uploaded_by"] is None
    assert api(editor).get(list_url(feature)).json()["results"][0]["uploaded_by"] == (
        "bien_tap_vien"
    )


def test_a_repeated_download_is_not_modified(api, editor, feature):
    body = attach(api(editor), feature, "a.jpg", jpeg_bytes()).json()
    first = api().get(body["url"])
    again = api().get(body["url"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]


# --- what is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("anh.jpg", b"<!DOCTYPE html><html><script>alert(1)</script></html>", "none of the kinds"),
        ("anh.jpg", pdf_bytes(), "is named .jpg but holds a PDF"),
        ("tai-lieu.pdf", jpeg_bytes(), "is named .pdf but holds a JPEG"),
        ("anh.png", jpeg_bytes(), "is named .png but holds a JPEG"),
        ("anh", jpeg_bytes(), "has no extension"),
        ("bao-cao.docx", b"PK\x03\x04" + b"\x00" * 100, "none of the kinds"),
        ("anh.png", png_bytes()[:300], "not a whole PNG image"),
        ("anh.png", png_bytes()[:-12], "not a whole PNG image"),
        ("anh.jpg", jpeg_bytes()[:-400], "not a whole JPEG image"),
        ("anh.jpg", b"\xff\xd8\xff\xe0" + b"<html>" * 20, "not a whole JPEG image"),
        ("tai-lieu.pdf", pdf_bytes()[:200], "cannot be read as one"),
        ("tai-lieu.pdf", b"%PDF-1.7\n<html><body>hello</body></html>", "cannot be read as one"),
        ("trong.jpg", b"", "empty"),
    ],
)
def test_a_file_that_is_not_what_it_says_is_refused(api, editor, feature, name, data, says):
    response = attach(api(editor), feature, name, data, "image/jpeg")
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid-data"
    assert body["parameter"] == "file"
    assert says in body["detail"]
    assert not FeatureAttachment.objects.exists()
    assert not ChangeEvent.objects.filter(action="attach").exists()


def test_no_file_or_two_files_are_refused(api, editor, feature):
    client = api(editor)
    response = client.post(list_url(feature), {"note": "x"}, format="multipart")
    assert response.status_code == 400
    assert "multipart field `file`" in response.json()["detail"]
    response = client.post(
        list_url(feature),
        {"file": [upload("a.jpg", jpeg_bytes()), upload("b.jpg", jpeg_bytes())]},
        format="multipart",
    )
    assert response.status_code == 400
    assert "2 were sent" in response.json()["detail"]


def test_a_file_over_the_limit_is_refused_with_413(api, editor, feature, settings, _private_media):
    settings.ATTACHMENT_MAX_BYTES = 200_000
    big = jpeg_bytes(1200, 900) + b"\x00" * 200_000  # still a JPEG, but too large
    response = attach(api(editor), feature, "lon.jpg", big)
    assert response.status_code == 413, response.content
    body = response.json()
    assert body["code"] == "too-large"
    assert body["parameter"] == "file"
    assert body["detail"].startswith(
        f"The file is {len(big) / 2**20:.1f} MiB; an attachment may be at most 0.2 MiB. "
    )
    assert "smaller photo" in body["detail"]
    assert media_files(_private_media) == []


def test_a_declared_length_far_over_the_limit_is_refused_before_reading(api, editor, feature):
    client = api(editor)
    response = client.generic(
        "POST",
        list_url(feature),
        b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(11 * 2**20 + 1),
    )
    assert response.status_code == 413
    assert "The file is 11 MiB; an attachment may be at most 10 MiB" in response.json()["detail"]


def test_an_image_with_too_many_pixels_is_refused(api, editor, feature, settings):
    settings.ATTACHMENT_MAX_PIXELS = 100_000
    response = attach(api(editor), feature, "lon.png", png_bytes(800, 400))
    assert response.status_code == 400
    assert "800 x 400 pixels" in response.json()["detail"]


def test_a_kind_left_out_of_the_settings_is_refused(api, editor, feature, settings):
    settings.ATTACHMENT_TYPES = ["image/jpeg", "image/png"]
    response = attach(api(editor), feature, "a.pdf", pdf_bytes())
    assert response.status_code == 400
    assert "is a PDF file" in response.json()["detail"]


def test_an_unknown_feature_gets_404(api, editor, hue_places):
    response = api(editor).post(
        f"/api/v1/layers/{LAYER}/features/999999/attachments/",
        {"file": upload("a.jpg", jpeg_bytes())},
        format="multipart",
    )
    assert response.status_code == 404


# --- who may see and change them ------------------------------------------------------------


@pytest.fixture
def internal_layer(category, hue_places, editor):
    layer = LayerFactory(slug="noi-bo", category=category, visibility="internal")
    layer.editor_groups.add(*editor.groups.all())
    layer_replace_features(
        layer=layer, records=[FeatureRecord(geom=Point(107.58, 16.46, srid=4326))]
    )
    return layer


def test_an_internal_layers_attachments_are_hidden_from_anonymous(
    api, editor, signed_in, internal_layer
):
    feature = Feature.objects.get(layer=internal_layer)
    body = attach(api(editor), feature, "a.jpg", jpeg_bytes(), slug="noi-bo").json()
    assert "id" in body, body
    anonymous = api()
    for url in (list_url(feature, "noi-bo"), body["url"], body["thumbnail_url"]):
        response = anonymous.get(url)
        assert response.status_code == 404, url
        # The same answer as for a layer that does not exist.
        assert response.json()["detail"] == "No layer 'noi-bo'."
    # Any signed-in user sees an internal layer, and its attachments, privately cached.
    download = api(signed_in).get(body["url"])
    assert download.status_code == 200
    assert download["Cache-Control"] == "private, max-age=0, must-revalidate"
    assert api(signed_in).get(list_url(feature, "noi-bo")).json()["results"][0]["id"] == body["id"]


def test_a_viewer_who_is_no_editor_may_not_attach_or_remove(api, editor, signed_in, feature):
    body = attach(api(editor), feature, "a.jpg", jpeg_bytes()).json()
    viewer = api(signed_in)
    response = attach(viewer, feature, "b.jpg", jpeg_bytes())
    assert response.status_code == 403
    assert "editor groups" in response.json()["detail"]
    assert viewer.delete(f"{list_url(feature)}{body['id']}/").status_code == 403
    assert api().delete(f"{list_url(feature)}{body['id']}/").status_code == 401
    assert attach(api(), feature, "b.jpg", jpeg_bytes()).status_code == 401
    assert FeatureAttachment.objects.filter(removed_at__isnull=True).count() == 1


def test_staff_may_attach_and_remove(api, staff, feature):
    body = attach(api(staff), feature, "a.pdf", pdf_bytes()).json()
    assert api(staff).delete(f"{list_url(feature)}{body['id']}/").status_code == 204


# --- removal, history, deletion -------------------------------------------------------------


def test_a_removed_attachment_is_hidden_and_in_the_history(api, editor, feature, hue_places):
    client = api(editor)
    client.credentials(HTTP_X_MAPSERVER_CLIENT="map")
    version = hue_places.version
    body = attach(client, feature, "Ảnh cũ.jpg", jpeg_bytes()).json()
    kept = attach(client, feature, "giữ lại.pdf", pdf_bytes()).json()
    response = client.delete(f"{list_url(feature)}{body['id']}/")
    assert response.status_code == 204
    # Removing again finds nothing to remove.
    assert client.delete(f"{list_url(feature)}{body['id']}/").status_code == 404

    listed = api().get(list_url(feature)).json()["results"]
    assert [item["id"] for item in listed] == [kept["id"]]
    assert api().get(body["url"]).status_code == 404
    # Its editors still open it from the history, never cached.
    download = client.get(body["url"])
    assert download.status_code == 200
    assert download["Cache-Control"] == "private, no-store"

    events = ChangeEvent.objects.filter(layer=hue_places, feature_id=feature.pk).order_by("id")
    assert [(e.action, e.channel, e.note, e.user.username) for e in events] == [
        ("attach", "map", "Ảnh cũ.jpg", "bien_tap_vien"),
        ("attach", "map", "giữ lại.pdf", "bien_tap_vien"),
        ("detach", "map", "Ảnh cũ.jpg", "bien_tap_vien"),
    ]
    # No new version of the feature, nor of the layer.
    feature.refresh_from_db()
    assert feature.version == 1
    hue_places.refresh_from_db()
    assert hue_places.version == version

    history = client.get(f"/api/v1/layers/{LAYER}/features/{feature.pk}/history/").json()
    assert len(history["versions"]) == 1
    by_id = {item["id"]: item for item in history["attachments"]}
    removed = by_id[body["id"]]
    assert removed["name"] == "Ảnh cũ.jpg"
    assert removed["removed_by"] == "bien_tap_vien"
    assert removed["added"]["action"] == "attach"
    assert removed["added"]["user"] == "bien_tap_vien"
    assert removed["removed"]["action"] == "detach"
    assert removed["removed"]["at"] == removed["removed_at"]
    assert by_id[kept["id"]]["removed"] is None
    assert "removed_at" not in by_id[kept["id"]]

    changes = client.get(f"/api/v1/layers/{LAYER}/changes/", {"action": "detach"}).json()
    assert [event["note"] for event in changes["results"]] == ["Ảnh cũ.jpg"]


def test_a_deleted_features_attachments_come_back_with_it(api, editor, feature):
    client = api(editor)
    body = attach(client, feature, "a.jpg", jpeg_bytes()).json()
    assert client.delete(f"/api/v1/layers/{LAYER}/features/{feature.pk}/").status_code == 204
    assert api().get(list_url(feature)).status_code == 404
    assert api().get(body["url"]).status_code == 404
    # The history of the deleted feature still lists it.
    history = client.get(f"/api/v1/layers/{LAYER}/features/{feature.pk}/history/").json()
    assert history["deleted"] is True
    assert [item["id"] for item in history["attachments"]] == [body["id"]]
    restored = client.post(
        f"/api/v1/layers/{LAYER}/features/{feature.pk}/restore/", {"version": 1}, format="json"
    )
    assert restored.status_code == 201, restored.content
    assert [a["id"] for a in api().get(list_url(feature)).json()["results"]] == [body["id"]]
    assert api().get(body["url"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_deleting_the_layer_removes_the_files(api, editor, feature, hue_places, _private_media):
    client = api(editor)
    attach(client, feature, "a.jpg", jpeg_bytes())
    attach(client, feature, "b.pdf", pdf_bytes())
    attach(client, feature, "c.png", png_bytes())
    assert len(media_files(_private_media)) == 5  # three files, two thumbnails
    hue_places.delete()
    assert not FeatureAttachment.objects.exists()
    assert media_files(_private_media) == []


def test_a_failed_write_leaves_no_file_behind(editor, feature, _private_media):
    checked = attachments.attachment_check(name="a.jpg", data=jpeg_bytes())
    # A channel the database refuses (its check constraint): the row is never written.
    with pytest.raises(IntegrityError), transaction.atomic():
        attachments.attachment_add(
            layer=feature.layer,
            feature_id=feature.pk,
            checked=checked,
            by=WriteContext(user=editor, channel="carrier-pigeon"),
        )
    assert media_files(_private_media) == []
    assert not FeatureAttachment.objects.exists()


def test_staff_see_attachments_read_only_in_the_admin(api, client, staff, editor, feature):
    body = attach(api(editor), feature, "Ảnh.jpg", jpeg_bytes()).json()
    attach(api(editor), feature, "b.pdf", pdf_bytes())
    client.force_login(staff)
    listed = client.get("/admin/layers/featureattachment/", {"feature_id": feature.pk})
    assert listed.status_code == 200
    assert "Ảnh.jpg" in listed.content.decode() and "b.pdf" in listed.content.decode()
    assert "/admin/layers/featureattachment/add/" not in listed.content.decode()
    page = client.get(f"/admin/layers/featureattachment/{body['id']}/change/")
    assert page.status_code == 200
    assert body["thumbnail_url"].removeprefix("http://testserver") in page.content.decode()
    assert client.post(f"/admin/layers/featureattachment/{body['id']}/delete/").status_code == 403
