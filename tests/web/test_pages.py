"""The map page's configuration, the investor page and the label glyphs, without a browser."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from layers.models import Layer
from tests.factories import UserFactory
from tests.web import sample

GLYPH_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build_glyphs.py"
_spec = importlib.util.spec_from_file_location("build_glyphs", GLYPH_SCRIPT)
build_glyphs = importlib.util.module_from_spec(_spec)
sys.modules["build_glyphs"] = build_glyphs  # dataclasses look their module up there
_spec.loader.exec_module(build_glyphs)
CONFIG_SCRIPT = re.compile(r'<script id="map-config" type="application/json">(.*?)</script>')


def _config(response) -> dict:
    return json.loads(CONFIG_SCRIPT.search(response.text).group(1))


@pytest.fixture
def hue(db, settings, tmp_path):
    settings.WEBMAP_BASE_LAYERS = sample.BASE_LAYERS
    settings.WEBMAP_DEFAULT_LAYERS = sample.DEFAULT_LAYERS
    settings.WEBMAP_INVESTMENT_CATEGORY = "investment"
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    return sample.build()


def test_the_map_lists_only_what_the_visitor_may_see(client, hue):
    anonymous = _config(client.get("/", HTTP_ACCEPT_LANGUAGE="vi"))
    slugs = {layer["slug"] for layer in anonymous["layers"]}
    assert slugs == set(hue) - {"internal-plan"}
    assert "planning" not in {category["slug"] for category in anonymous["categories"]}
    assert anonymous["signed_in"] is False

    client.force_login(UserFactory(username="planner"))
    signed_in = _config(client.get("/"))
    assert "internal-plan" in {layer["slug"] for layer in signed_in["layers"]}


def test_the_map_config_describes_each_layer(client, hue):
    config = _config(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    layers = {layer["slug"]: layer for layer in config["layers"]}
    landmarks = layers["landmarks"]
    assert landmarks["title"] == "Landmarks"
    assert landmarks["on"] is True and landmarks["base"] is False
    assert landmarks["feature_count"] == len(sample.LANDMARKS) + 1
    assert landmarks["version"] == hue["landmarks"].version
    assert landmarks["schema"][1] == {
        "name": "ten_en",
        "type": "text",
        "label": "English name",
        "required": False,
    }
    assert landmarks["licence"] == "CC0"
    assert layers["buildings"]["base"] is True and layers["buildings"]["on"] is True
    assert config["base_order"] == sample.BASE_LAYERS
    assert config["urls"]["glyphs"] == "/static/glyphs/{fontstack}/{range}.pbf"
    assert config["basemap"]["url"] == ""


def test_the_map_config_says_which_layers_the_visitor_may_edit(client, hue, settings):
    parcels = hue["parcels"]
    schema = parcels.attribute_schema
    schema[0]["required"] = True
    schema[3]["choices"] = [
        {"value": "Đang kêu gọi đầu tư", "label_vi": "Đang kêu gọi", "label_en": "Open"},
        "Đã giao đất",
    ]
    parcels.attribute_schema = schema
    parcels.save(update_fields=["attribute_schema"])
    editors = Group.objects.create(name="parcel-editors")
    parcels.editor_groups.add(editors)

    anonymous = _config(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    assert not [layer["slug"] for layer in anonymous["layers"] if layer["editable"]]
    client.force_login(UserFactory(username="viewer"))
    viewer = _config(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    assert not [layer["slug"] for layer in viewer["layers"] if layer["editable"]]

    editor = UserFactory(username="editor")
    editor.groups.add(editors)
    client.force_login(editor)
    config = _config(client.get("/", HTTP_ACCEPT_LANGUAGE="en"))
    assert [layer["slug"] for layer in config["layers"] if layer["editable"]] == ["parcels"]
    fields = {field["name"]: field for field in next(
        layer for layer in config["layers"] if layer["slug"] == "parcels"
    )["schema"]}  # fmt: skip
    assert fields["ten"]["required"] is True
    assert fields["area_m2"]["required"] is False and "choices" not in fields["area_m2"]
    assert fields["status"]["choices"] == [
        {"value": "Đang kêu gọi đầu tư", "label": "Open"},
        {"value": "Đã giao đất", "label": "Đã giao đất"},
    ]
    assert config["edit_extent"] == list(settings.CITY_REGION_BBOX)


def test_text_from_the_data_cannot_close_the_config_script(client, hue):
    Layer.objects.filter(slug="landmarks").update(title_vi="</script><script>alert(1)</script>")
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="vi")
    assert "</script><script>alert(1)" not in response.text
    titles = {layer["title"] for layer in _config(response)["layers"]}
    assert "</script><script>alert(1)</script>" in titles


def _parcel_names(response) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', response.text)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["Khu đất A1", "Khu đất A2", "Khu đất B1", "Khu đất B2", "Khu đất C1"]),
        ("?zoning=Nhà ở", ["Khu đất A2", "Khu đất C1"]),
        ("?status=Đã giao đất", ["Khu đất B1", "Khu đất C1"]),
        ("?ward=Phường Vỹ Dạ", ["Khu đất B1", "Khu đất B2"]),
        ("?area_min=5000&area_max=13000", ["Khu đất A1", "Khu đất B1"]),
        ("?sort=-area", ["Khu đất B2", "Khu đất A1", "Khu đất B1", "Khu đất A2", "Khu đất C1"]),
    ],
)
def test_investors_filter_the_parcels(client, hue, query, names):
    response = client.get(f"/investors/{query}", HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 200
    assert _parcel_names(response) == names


def test_a_filter_that_is_not_a_number_is_said_on_the_page(client, hue):
    response = client.get("/investors/?area_min=lots", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert "This filter could not be used:" in response.text and "area_min" in response.text
    # The page is still there to correct the filter, with every parcel listed.
    assert _parcel_names(response) == [
        "Khu đất A1", "Khu đất A2", "Khu đất B1", "Khu đất B2", "Khu đất C1"
    ]  # fmt: skip


def test_each_parcel_links_to_its_place_on_the_map(client, hue):
    response = client.get("/investors/?zoning=Du lịch", HTTP_ACCEPT_LANGUAGE="vi")
    feature = hue["parcels"].features.get(name="Khu đất B1")
    link = re.search(r'href="(/#map=[^"]+)"', response.text).group(1)
    assert link.endswith(f"&amp;feature=parcels/{feature.pk}")
    assert "8.200" in response.text  # the area, grouped the Vietnamese way


def test_investors_see_each_credit_with_its_links_and_nothing_that_runs(client, hue):
    """A credit with a link (CC-BY asks for the licence's) is a link, not raw tags; a script a
    row saved before the sanitiser might hold never reaches the page."""
    Layer.objects.filter(slug="parcels").update(
        attribution='© Sở Xây dựng, <a href="https://creativecommons.org/licenses/by/4.0/">'
        "CC BY 4.0</a><script>alert(1)</script>"
    )
    response = client.get(reverse("investors"), HTTP_ACCEPT_LANGUAGE="vi")
    credits = re.search(r'<p class="credits-line">(.*?)</p>', response.text, re.S).group(1)
    assert '<a href="https://creativecommons.org/licenses/by/4.0/"' in credits
    assert "&lt;a" not in credits
    assert "<script>" not in credits and "alert(1)" not in credits


def test_investors_see_no_parcels_of_layers_they_may_not_see(client, hue):
    Layer.objects.filter(slug="parcels").update(visibility=Layer.Visibility.INTERNAL)
    response = client.get(reverse("investors"), HTTP_ACCEPT_LANGUAGE="en")
    assert _parcel_names(response) == []
    assert "No investment parcels are published yet." in response.text


def _messages(data: bytes):
    """Yield (field number, value) of a protobuf message: varints as ints, the rest as bytes."""
    position = 0

    def varint():
        nonlocal position
        shift = result = 0
        while True:
            byte = data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return result

    while position < len(data):
        key = varint()
        if key & 7 == 0:
            yield key >> 3, varint()
        else:
            length = varint()
            yield key >> 3, data[position : position + length]
            position += length


def test_the_glyphs_cover_vietnamese(tmp_path):
    font = build_glyphs.FONTSTACKS["noto-sans-regular"]
    build_glyphs.build_fontstack("noto-sans-regular", font, tmp_path)
    assert len(list((tmp_path / "noto-sans-regular").glob("*.pbf"))) == 256

    data = (tmp_path / "noto-sans-regular" / "7680-7935.pbf").read_bytes()
    (_, stack), = _messages(data)  # fmt: skip
    fields = list(_messages(stack))
    assert (1, b"noto-sans-regular") in fields and (2, b"7680-7935") in fields
    glyphs = {}
    for number, value in fields:
        if number == 3:
            glyph = dict(_messages(value))
            glyphs[glyph[1]] = glyph
    assert {ord(c) for c in "ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"} <= set(glyphs)
    a = glyphs[ord("ạ")]
    assert len(a[2]) == (a[3] + 6) * (a[4] + 6)  # an SDF bitmap with its 3-pixel border
    assert 10 <= a[7] <= 16  # advance, in pixels at 24 px
    assert max(a[2]) > 191 > min(a[2])  # inside and outside of the glyph's edge
