"""The demo's data licences: each layer credits the data it is built from, as the sources say.

fixtures/real/SOURCES.md (gathered from each data set's SOURCE.md) names the licence and the words
of attribution each data set asks for; docs/data-licences.md explains them. These tests hold the
demo catalogue to the first, the docs to the catalogue, and the product to showing the credit.
"""

import json
import re
from html import unescape
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.html import strip_tags

from layers.demo.catalogue import catalogue_load
from layers.demo.load import LayerAction, demo_load
from layers.models import Layer
from layers.rich_text import clean_attribution

REPO_DIR = Path(settings.BASE_DIR)
SOURCES = REPO_DIR / "fixtures" / "real" / "SOURCES.md"
DOCS = REPO_DIR / "docs" / "data-licences.md"
CATALOGUE = REPO_DIR / "fixtures" / "demo" / "catalogue.json"

# Which data set each provenance of the catalogue stands for, and the licence it must name.
PROVENANCE_DATA_SET = {
    "vn_admin_tth_gov": ("vn_admin_tth_gov", "GPL-3.0"),
    "osm_places_hue_region": ("osm_places_hue_region", "ODbL-1.0"),
    "lego_city_cc_by": ("vn_national_open_data", "CC-BY-4.0"),
    "lego_city_cc_by_sa": ("vn_national_open_data", "CC-BY-SA-4.0"),
    "hue_landmarks": ("hue_landmarks", None),
    # No open licence upstream (sapnhap.bando.com.vn): the licence field says so, see below.
    "hue_wards_2025": ("hue_wards_2025", None),
    "vn_provinces_2025": ("vn_provinces_2025", None),
    "hue_osm_pois": ("hue_osm_pois", "ODbL-1.0"),
}
# The data sets whose boundaries may only be shown for demonstration (their SOURCE.md's note).
DEMONSTRATION_ONLY = ("hue_wards_2025", "vn_provinces_2025")
# The provenance each builder's data calls for: real layers their data set's, the rest "sample"
# (made up around real places, and cut to the GPL-3.0 boundaries, which they credit).
BUILDER_PROVENANCE = {
    "real.province": "vn_admin_tth_gov",
    "real.districts": "vn_admin_tth_gov",
    "real.settlements": "osm_places_hue_region",
    "real.national_roads": "lego_city_cc_by",
    "real.railways": "lego_city_cc_by",
    "real.hydropower": "lego_city_cc_by",
    "real.protected_areas": "lego_city_cc_by_sa",
    "real.heritage_sites": "hue_landmarks",
    "real.wards_2025": "hue_wards_2025",
    "real.city_boundary_2025": "hue_wards_2025",
    "real.provinces_2025": "vn_provinces_2025",
    **{
        f"real.osm_{kind}": "hue_osm_pois"
        for kind in ("hotels", "sights", "worship", "markets", "food", "fuel", "atms", "other")
    },
}


def _plain(html: str) -> str:
    return " ".join(unescape(strip_tags(html)).split())


def _section(data_set: str) -> str:
    text = SOURCES.read_text(encoding="utf-8")
    return text.split(f"\n## {data_set}\n", 1)[1].split("\n## ", 1)[0]


def _asked_attribution(data_set: str) -> str | None:
    """Return the words of attribution SOURCES.md gives for a data set (None if it asks none):
    after "Attribution", or what it says to "show … on the map"."""
    section = _section(data_set)
    found = re.search(r"Attribution[^\"]*\"([^\"]+)\"", section) or re.search(
        r"show \"([^\"]+)\" on the map", section
    )
    return " ".join(found.group(1).split()) if found else None


def _provenances() -> dict:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))["provenance"]


def test_every_provenance_is_a_known_data_set_or_sample():
    assert set(_provenances()) == {*PROVENANCE_DATA_SET, "sample"}


@pytest.mark.parametrize("provenance", sorted(PROVENANCE_DATA_SET))
def test_each_real_provenance_credits_and_licenses_as_its_source_asks(provenance):
    data_set, licence = PROVENANCE_DATA_SET[provenance]
    fields = _provenances()[provenance]
    asked = _asked_attribution(data_set)
    if asked:
        assert asked in _plain(fields["attribution"])
    if licence:
        assert fields["licence"].startswith(licence)


def test_every_data_set_of_the_2025_reform_asks_for_its_credit():
    for data_set in ("hue_wards_2025", "vn_provinces_2025", "hue_osm_pois"):
        assert _asked_attribution(data_set), data_set
    assert _asked_attribution("hue_osm_pois") == "© OpenStreetMap contributors"


@pytest.mark.parametrize("provenance", DEMONSTRATION_ONLY)
def test_the_2025_boundaries_say_they_are_for_demonstration(provenance):
    fields = _provenances()[provenance]
    # SOURCE.md: no open licence upstream; OK for a demo with attribution, check before production.
    assert "Không có giấy phép mở" in fields["licence"] and "MIT" in fields["licence"]
    assert "trình diễn" in fields["licence"] and "demonstration" in fields["licence"]
    assert "sapnhap.bando.com.vn" in fields["source"]
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for layer in data["layers"]:
        if layer["provenance"] == provenance:
            assert "demonstration" in layer["description_en"], layer["slug"]
            assert "trình diễn" in layer["description_vi"], layer["slug"]
    demo_docs = (REPO_DIR / "docs" / "demo.md").read_text(encoding="utf-8")
    assert "for demonstration" in demo_docs and "sapnhap.bando.com.vn" in demo_docs


def test_sample_layers_credit_the_boundaries_they_are_cut_to():
    sample = _provenances()["sample"]
    # "Ranh giới hành chính: <who>": the sample's credit says "ranh giới: <who>" after its own.
    boundaries = _asked_attribution("vn_admin_tth_gov").split(": ", 1)[1]
    assert f"ranh giới: {boundaries}" in _plain(sample["attribution"])
    assert "GPL-3.0" in sample["licence"] and "Dữ liệu mẫu" in sample["attribution"]


def test_each_demo_layer_has_the_provenance_of_what_builds_it():
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    for layer in data["layers"]:
        expected = BUILDER_PROVENANCE.get(layer["builder"], "sample")
        assert layer["provenance"] == expected, layer["slug"]


def test_catalogue_attributions_are_stored_as_saved_so_a_reload_changes_nothing():
    for spec in catalogue_load().layers:
        attribution = spec.fields["attribution"]
        assert clean_attribution(attribution) == attribution, spec.slug


def test_the_docs_list_every_data_set_and_fixture_the_repository_ships():
    docs = DOCS.read_text(encoding="utf-8")
    shipped = [
        *(p.name for p in (REPO_DIR / "fixtures" / "real").glob("*.*") if p.name != "SOURCES.md"),
        *(p.stem for p in (REPO_DIR / "tests" / "data").iterdir() if p.name != "SOURCE.md"),
        "places.json",
        *{data_set for data_set, _ in PROVENANCE_DATA_SET.values()},
    ]
    missing = [name for name in shipped if name not in docs]
    assert not missing, f"docs/data-licences.md does not name {missing}"


def test_the_gpl_text_ships_with_the_gpl_boundaries():
    text = (REPO_DIR / "fixtures" / "real" / "LICENSES" / "GPL-3.0.txt").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text


@pytest.mark.django_db
def test_the_product_shows_each_real_layer_credit_and_licence(client, settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path
    slugs = ["diem-dan-cu", "ranh-gioi-tinh", "hue_wards_2025", "cho"]
    demo_load(slugs=slugs)
    osm = Layer.objects.get(slug="diem-dan-cu")
    assert 'href="https://www.openstreetmap.org/copyright"' in osm.attribution
    assert osm.licence == "ODbL-1.0"
    for slug in slugs:
        layer = Layer.objects.get(slug=slug)
        credit = clean_attribution(layer.attribution)
        words = _plain(credit)
        tilejson = client.get(f"/tiles/{slug}.json").json()
        assert tilejson["attribution"] == credit
        collection = client.get(f"/ogc/collections/{slug}", {"f": "json"}).json()
        assert collection["attribution"] == credit and collection["license"] == layer.licence
        detail = client.get(reverse("api:layer-detail", kwargs={"slug": slug})).json()
        assert detail["attribution"] == credit and detail["licence"] == layer.licence
        style = client.get(reverse("style-layer", kwargs={"slug": slug})).json()
        assert [source["attribution"] for source in style["sources"].values()] == [credit]
        iso = client.get(reverse("api:layer-metadata-iso", kwargs={"slug": slug}))
        assert words in " ".join(iso.content.decode().split())
    catalogue = client.get(reverse("api:dcat-catalog"), {"format": "ttl"}).content.decode()
    assert "https://opendatacommons.org/licenses/odbl/1-0/" in catalogue
    # Loading again finds nothing to change: the stored credit is the catalogue's, as saved.
    updated = {layer.slug: layer.updated_at for layer in Layer.objects.filter(slug__in=slugs)}
    assert {o.action for o in demo_load(slugs=slugs)} == {LayerAction.UNCHANGED}
    assert updated == {x.slug: x.updated_at for x in Layer.objects.filter(slug__in=slugs)}
