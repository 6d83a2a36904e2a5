"""The demo: `loaddemo` fills the catalogue's layers with valid data in the region, idempotently.

The demo is loaded once for the module (committed, as `make demo` would) and removed afterwards.
"""

import json
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Group
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from layers.demo.catalogue import CATALOGUE_PATH, CatalogueError, catalogue_load
from layers.demo.osm import OTHER, kind_of
from layers.demo.real import read_collection
from layers.exports import export_run
from layers.models import Category, ExportJob, Feature, Layer
from tests.factories import LayerFactory, UserFactory

pytestmark = pytest.mark.django_db

UTILITY_LAYERS = ("mang-cap-nuoc", "mang-thoat-nuoc", "luoi-dien")
RESTRICTED_LAYER = "cong-trinh-dau-moi"
INFRASTRUCTURE_GROUP = "Hạ tầng kỹ thuật"


def _snapshot() -> dict:
    layers = Layer.objects.filter(metadata__demo=True)
    return {
        "layers": {layer.slug: (layer.feature_count, layer.version) for layer in layers},
        "categories": sorted(Category.objects.values_list("slug", flat=True)),
    }


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    """Load the demo once, committed; delete what it made when the module is done."""
    catalogue = catalogue_load()
    # Loading rebuilds tiles (eager Celery in tests): keep them out of the developer's cache.
    with (
        override_settings(TILE_CACHE_DIR=tmp_path_factory.mktemp("tiles")),
        django_db_blocker.unblock(),
    ):
        call_command("loaddemo", verbosity=0)
        snapshot = _snapshot()
    yield snapshot
    with django_db_blocker.unblock():
        Layer.objects.filter(metadata__demo=True).delete()
        slugs = [category.slug for category in catalogue.categories]
        Category.objects.filter(slug__in=slugs, layers__isnull=True).delete()
        Group.objects.filter(name__in=catalogue.groups).delete()


def _demo_layers():
    return Layer.objects.filter(metadata__demo=True).select_related("category")


def test_the_demo_has_many_layers_in_many_categories(demo):
    layers = _demo_layers()
    assert layers.count() >= 24
    assert len({layer.category_id for layer in layers}) >= 8
    assert set(demo["layers"]) == {spec.slug for spec in catalogue_load().layers}


def test_every_layer_is_ready_with_features_category_and_credits(demo):
    for layer in _demo_layers():
        assert layer.status == Layer.Status.READY, layer.slug
        assert layer.category_id, layer.slug
        assert layer.attribution.strip() and layer.source.strip(), layer.slug
        assert layer.feature_count == layer.features.count() > 0, layer.slug
        assert layer.prebuild_zoom <= layer.max_zoom, layer.slug
        assert layer.extent is not None, layer.slug


def test_every_geometry_is_valid_and_inside_the_region(demo):
    regions = {spec.slug: spec.region_bbox for spec in catalogue_load().layers if spec.region_bbox}
    # Only the provinces of Vietnam reach past the city's region.
    assert set(regions) == {"vn_provinces_2025"}
    with connection.cursor() as cursor:
        for slugs, bbox, outside in [
            (list(regions), regions["vn_provinces_2025"], True),
            (list(regions), settings.CITY_REGION_BBOX, False),
        ]:
            cursor.execute(
                """
                SELECT l.slug, count(*) FROM layers_feature f
                JOIN layers_layer l ON l.id = f.layer_id
                WHERE (l.metadata ->> 'demo')::boolean AND (l.slug = ANY(%s)) = %s
                  AND (NOT ST_IsValid(f.geom)
                       OR ST_IsEmpty(f.geom)
                       OR NOT ST_CoveredBy(f.geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326)))
                GROUP BY l.slug
                """,
                [slugs, outside, *bbox],
            )
            assert cursor.fetchall() == []


def test_thousands_of_buildings_with_heights_none_in_the_water(demo):
    buildings = Feature.objects.filter(layer__slug="toa-nha")
    assert buildings.count() >= 5000
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*) FILTER (WHERE coalesce((attributes ->> 'height_m')::numeric, 0) <= 0),
                   count(*) FILTER (WHERE coalesce((attributes ->> 'floors')::int, 0) < 1)
            FROM layers_feature WHERE layer_id = (SELECT id FROM layers_layer WHERE slug = %s)
            """,
            ["toa-nha"],
        )
        assert cursor.fetchone() == (0, 0)
        cursor.execute(
            """
            SELECT count(*) FROM layers_feature b JOIN layers_feature w
              ON ST_Intersects(b.geom, w.geom) AND ST_Area(ST_Intersection(b.geom, w.geom)) > 0
            WHERE b.layer_id = (SELECT id FROM layers_layer WHERE slug = 'toa-nha')
              AND w.layer_id = (SELECT id FROM layers_layer WHERE slug = 'song-ho')
            """
        )
        assert cursor.fetchone() == (0,)


def test_utilities_are_internal_and_critical_sites_restricted_to_a_group(demo):
    layers = {layer.slug: layer for layer in _demo_layers()}
    for slug in UTILITY_LAYERS:
        assert layers[slug].visibility == Layer.Visibility.INTERNAL
    restricted = layers[RESTRICTED_LAYER]
    assert restricted.visibility == Layer.Visibility.RESTRICTED
    assert list(restricted.groups.values_list("name", flat=True)) == [INFRASTRUCTURE_GROUP]

    anonymous_sees = set(Layer.objects.visible_to(AnonymousUser()).values_list("slug", flat=True))
    assert not anonymous_sees & {*UTILITY_LAYERS, RESTRICTED_LAYER}
    engineer = UserFactory(username="engineer")
    engineer.groups.add(Group.objects.get(name=INFRASTRUCTURE_GROUP))
    engineer_sees = set(Layer.objects.visible_to(engineer).values_list("slug", flat=True))
    assert {*UTILITY_LAYERS, RESTRICTED_LAYER} <= engineer_sees


def test_public_investment_parcels_carry_what_investors_filter_on(demo):
    layer = Layer.objects.get(slug="khu-dat-dau-tu")
    assert layer.visibility == Layer.Visibility.PUBLIC
    assert layer.category.slug == "investment"
    assert layer.geometry_type == "polygon"
    parcels = list(layer.features.all())
    assert len(parcels) >= 10
    for parcel in parcels:
        attributes = parcel.attributes
        assert attributes["dien_tich_m2"] > 0
        assert attributes["gia_khoi_diem_trieu_vnd_m2"] > 0
        assert attributes["trang_thai"] and attributes["phuong"] and attributes["lien_he"]
    # The ward of today, as an investor reads an address: one of the 40 units since July 2025.
    today = set(Feature.objects.filter(layer__slug="hue_wards_2025").values_list("name", flat=True))
    assert len(today) == 40
    assert {parcel.attributes["phuong"] for parcel in parcels} <= today
    assert all(parcel.attributes["phuong"].lower() in parcel.name.lower() for parcel in parcels)


def test_attributes_match_each_layers_schema(demo):
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.slug, array_agg(DISTINCT k.key) FROM layers_feature f
            JOIN layers_layer l ON l.id = f.layer_id, jsonb_object_keys(f.attributes) AS k(key)
            WHERE (l.metadata ->> 'demo')::boolean GROUP BY l.slug
            """
        )
        keys = dict(cursor.fetchall())
    for layer in _demo_layers():
        names = {field["name"] for field in layer.attribute_schema}
        assert set(keys[layer.slug]) <= names, layer.slug
        assert layer.name_field in names, layer.slug


def test_sample_layers_say_so(demo):
    sample = [spec.slug for spec in catalogue_load().layers if spec.builder.startswith("synth.")]
    for layer in Layer.objects.filter(slug__in=sample):
        assert "Dữ liệu mẫu" in layer.description_vi, layer.slug
        assert "sample data" in layer.description_en.lower(), layer.slug
        assert "Dữ liệu mẫu" in layer.attribution, layer.slug


def test_vietnamese_names_keep_their_diacritics_and_are_found_without_them(demo):
    found = Feature.objects.filter(layer__slug="di-tich", search_text__contains="dai noi")
    assert [feature.name for feature in found] == ["Đại Nội Huế"]
    hospital = Feature.objects.get(layer__slug="benh-vien", search_text="benh vien trung uong hue")
    assert hospital.attributes["ten"] == "Bệnh viện Trung ương Huế"
    assert Feature.objects.filter(layer__slug="ranh-gioi-phuong-xa", name="Phường Vỹ Dạ").exists()


def test_loading_again_changes_nothing(demo):
    out = StringIO()
    call_command("loaddemo", verbosity=1, stdout=out)
    assert _snapshot() == demo
    lines = out.getvalue().splitlines()
    for slug in demo["layers"]:
        assert any(line.startswith(slug + " ") and "unchanged" in line for line in lines), slug


def test_loaddemo_leaves_other_layers_alone(demo):
    own = LayerFactory(slug="ban-do-rieng", metadata={"owner": "GIS office"})
    call_command("loaddemo", "cho", "--prune", verbosity=0)
    assert Layer.objects.filter(pk=own.pk).exists()
    assert _snapshot()["layers"] == demo["layers"]


# --- Huế after the July 2025 reform ---------------------------------------------------------------
BOUNDARIES_2025 = ("hue_wards_2025", "hue_city_boundary_2025", "vn_provinces_2025")
BOUNDARIES_BEFORE = ("ranh-gioi-tinh", "ranh-gioi-huyen", "ranh-gioi-phuong-xa")
OSM_LAYERS = (
    "khach-san",
    "diem-tham-quan",
    "co-so-ton-giao",
    "cho",
    "nha-hang-ca-phe",
    "cay-xang",
    "atm-ngan-hang",
    "tien-ich-khac",
)
WARDS_2025_ATTRIBUTION = (
    "Ranh giới hành chính 2025: Bản đồ tham khảo đơn vị hành chính Việt Nam "
    "(sapnhap.bando.com.vn), NXB Tài nguyên \N{EN DASH} Môi trường và Bản đồ Việt Nam; "
    "via thanglequoc/vietnamese-provinces-database (MIT)."
)


def _plain(html: str) -> str:
    from django.utils.html import strip_tags

    return " ".join(strip_tags(html).split())


def test_hue_has_40_wards_and_communes_from_july_2025(demo):
    layer = Layer.objects.get(slug="hue_wards_2025")
    wards = list(layer.features.all())
    assert len(wards) == 40
    kinds = sorted(ward.attributes["loai"] for ward in wards)
    assert kinds.count("Phường") == 21 and kinds.count("Xã") == 19
    for ward in wards:
        attributes = ward.attributes
        assert ward.name == attributes["ten"] and attributes["ten"].split()[0] in ("Phường", "Xã")
        assert attributes["dan_so"] > 0 and attributes["dien_tich_km2"] > 0, ward.name
        assert attributes["mat_do_dan_so"] > 0 and attributes["tru_so"], ward.name
        # The open end is an explicit null: every feature has both time fields (exports keep both).
        assert attributes["valid_from"] == "2025-07-01" and attributes["valid_to"] is None
        assert attributes["huyen_cu"], ward.name
        if attributes["sap_nhap"]:
            assert isinstance(attributes["before_merger"], list) and attributes["before_merger"]
        else:
            assert "before_merger" not in attributes
    phu_xuan = layer.features.get(name="Phường Phú Xuân").attributes
    assert "Phường Đông Ba" in phu_xuan["before_merger"] and phu_xuan["huyen_cu"] == [
        "Thành phố Huế"
    ]
    # The wards cover the city: their areas add up to the city's 4,947 km².
    total = sum(ward.attributes["dien_tich_km2"] for ward in wards)
    assert total == pytest.approx(4947.1, abs=1)
    assert _plain(layer.attribution) == WARDS_2025_ATTRIBUTION
    assert "trình diễn" in layer.licence and "MIT" in layer.licence


def test_the_2025_boundaries_and_the_old_ones_are_time_enabled_either_side_of_the_reform(demo):
    city = Layer.objects.get(slug="hue_city_boundary_2025")
    assert [f.name for f in city.features.all()] == ["Thành phố Huế"]
    provinces = Layer.objects.get(slug="vn_provinces_2025")
    assert provinces.features.count() == 34
    hue = provinces.features.get(attributes__ma="46")
    assert hue.name == "Thành phố Huế" and hue.attributes["sap_nhap"] is False
    da_nang = provinces.features.get(name="Thành phố Đà Nẵng").attributes
    assert da_nang["before_merger"] == ["thành phố Đà Nẵng", "tỉnh Quảng Nam"]
    for slug in BOUNDARIES_2025 + BOUNDARIES_BEFORE:
        layer = Layer.objects.get(slug=slug)
        assert (layer.time_start_field, layer.time_end_field) == ("valid_from", "valid_to")
        types = {field["name"]: field["type"] for field in layer.attribute_schema}
        assert types["valid_from"] == types["valid_to"] == "date", slug
        validity = set(layer.features.values_list("attributes__valid_from", "attributes__valid_to"))
        expected = (None, "2025-06-30") if slug in BOUNDARIES_BEFORE else ("2025-07-01", None)
        assert validity == {expected}, slug
    # Titles say Thành phố Huế, and which side of 1 July 2025 they are on.
    titles = {slug: Layer.objects.get(slug=slug).title_vi for slug in BOUNDARIES_2025[:2]}
    titles.update({slug: Layer.objects.get(slug=slug).title_vi for slug in BOUNDARIES_BEFORE})
    for slug, title in titles.items():
        assert "Thừa Thiên" not in title, slug
        assert ("trước 1/7/2025" in title) == (slug in BOUNDARIES_BEFORE), slug
    assert Layer.objects.get(slug="ranh-gioi-tinh").title_vi.startswith("Ranh giới Thành phố Huế")


@pytest.mark.parametrize(
    ("q", "found"),
    [
        # A former district: the communes that lay in it, the one of the same name first.
        ("Phú Vang", "Xã Phú Vang"),
        ("huyen phu vang", "Phường Mỹ Thượng"),
        # Former wards, with or without accents, by the new unit's `before_merger`.
        ("Đông Ba", "Phường Phú Xuân"),
        ("tay loc", "Phường Phú Xuân"),
        ("Thủy Biều", "Phường Thuỷ Xuân"),
        ("thi tran sia", "Xã Quảng Điền"),
    ],
)
def test_searching_a_former_unit_finds_the_2025_unit_it_became(demo, client, q, found):
    response = client.get("/api/v1/search/", {"q": q, "layers": "hue_wards_2025", "limit": 50})
    assert response.status_code == 200, response.content
    names = [hit["name"] for hit in response.json()["results"]]
    assert found in names
    if q == "Phú Vang":
        assert names[0] == "Xã Phú Vang"
        # Every ward that lay in the old district is found, and none that did not.
        in_phu_vang = {
            f.name
            for f in Feature.objects.filter(layer__slug="hue_wards_2025")
            if "Huyện Phú Vang" in f.attributes["huyen_cu"]
        }
        assert in_phu_vang <= set(names) and len(in_phu_vang) >= 5


def test_search_across_layers_finds_the_new_ward_beside_the_old_one(demo, client):
    results = client.get("/api/v1/search/", {"q": "Vỹ Dạ", "limit": 100}).json()["results"]
    by_layer = {(hit["layer"], hit["name"]) for hit in results}
    assert ("hue_wards_2025", "Phường Vỹ Dạ") in by_layer
    assert ("ranh-gioi-phuong-xa", "Phường Vỹ Dạ") in by_layer
    # Xuân Phú became part of Vỹ Dạ: the old name finds the new ward, ranked after name matches.
    results = client.get("/api/v1/search/", {"q": "Xuân Phú", "limit": 100}).json()["results"]
    assert ("hue_wards_2025", "Phường Vỹ Dạ") in {(hit["layer"], hit["name"]) for hit in results}


def test_openstreetmap_points_make_one_layer_per_kind_all_2088_of_them(demo):
    layers = {layer.slug: layer for layer in Layer.objects.filter(slug__in=OSM_LAYERS)}
    assert set(layers) == set(OSM_LAYERS)
    assert sum(layer.feature_count for layer in layers.values()) == 2088
    assert len(read_collection("hue_osm_pois")) == 2088
    for layer in layers.values():
        assert layer.licence == "ODbL-1.0", layer.slug
        assert _plain(layer.attribution) == "© OpenStreetMap contributors", layer.slug
        assert "OpenStreetMap" in layer.description_vi and "sample data" not in (
            layer.description_en.lower()
        )
    counts = {slug: layer.feature_count for slug, layer in layers.items()}
    assert counts["nha-hang-ca-phe"] > 700 and counts["co-so-ton-giao"] > 200
    assert counts["cay-xang"] == 81 and counts["cho"] == 7
    # Every point sits in exactly one layer, by its tags.
    kinds = {kind_of(p) for _geom, p in read_collection("hue_osm_pois")}
    assert len(kinds) == 8 and OTHER in kinds
    hotel = layers["khach-san"].features.filter(attributes__the_osm="tourism=hotel").first()
    assert hotel.attributes["osm_id"].startswith("node/") and hotel.attributes["loai"] == (
        "Khách sạn"
    )


def test_no_synthetic_layer_stands_where_openstreetmap_has_data(demo):
    builders = {spec.slug: spec.builder for spec in catalogue_load().layers}
    for slug in OSM_LAYERS:
        assert builders[slug].startswith("real.osm_"), slug
    synthetic = {slug for slug, builder in builders.items() if builder.startswith("synth.")}
    assert not synthetic & set(OSM_LAYERS)
    for layer in Layer.objects.filter(slug__in=synthetic):
        assert "dữ liệu mẫu" in (layer.title_vi + layer.description_vi).lower(), layer.slug


def test_loading_again_leaves_the_2025_layers_as_they_are(demo):
    before = {
        layer.slug: (layer.version, layer.updated_at, layer.metadata)
        for layer in Layer.objects.filter(slug__in=BOUNDARIES_2025 + OSM_LAYERS)
    }
    out = StringIO()
    call_command("loaddemo", *BOUNDARIES_2025, *OSM_LAYERS, verbosity=1, stdout=out)
    after = {
        layer.slug: (layer.version, layer.updated_at, layer.metadata)
        for layer in Layer.objects.filter(slug__in=BOUNDARIES_2025 + OSM_LAYERS)
    }
    assert after == before
    lines = [line for line in out.getvalue().splitlines() if line.endswith("features  unchanged")]
    assert len(lines) == len(BOUNDARIES_2025 + OSM_LAYERS)
    assert before["hue_wards_2025"][2]["search_fields"] == ["before_merger", "huyen_cu"]


def test_a_former_province_finds_the_province_it_joined(demo, client):
    response = client.get("/api/v1/search/", {"q": "Quảng Nam", "layers": "vn_provinces_2025"})
    assert [hit["name"] for hit in response.json()["results"]] == ["Thành phố Đà Nẵng"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"time_start_field": "ten"}, "is not a date attribute"),
        ({"time_end_field": "khong_co"}, "is not a date attribute"),
        ({"search_fields": ["khong_co"]}, "a searched field"),
        ({"feature_attributes": {"khong_co": 1}}, "a feature attribute"),
        ({"region_bbox": [108, 16, 107, 17]}, "is not (west, south, east, north)"),
        ({"title_vi": "x" * 201}, "title_vi longer than 200"),
    ],
)
def test_a_catalogue_that_contradicts_itself_is_refused(tmp_path, change, problem):
    data = json.loads(CATALOGUE_PATH.read_text(encoding="utf-8"))
    wards = next(layer for layer in data["layers"] if layer["slug"] == "hue_wards_2025")
    wards.update(change)
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"Demo layer hue_wards_2025: .*") as error:
        catalogue_load(path)
    assert problem in str(error.value)


@pytest.mark.parametrize("fmt", ["gpkg", "shp.zip"])
def test_the_time_enabled_boundaries_export(demo, client, fmt):
    """GDAL refuses to select a field no feature holds: the open end must be there as null."""
    for slug in BOUNDARIES_2025 + BOUNDARIES_BEFORE:
        response = client.get(f"/api/v1/layers/{slug}/export.{fmt}")
        assert response.status_code == 303, response.content
        job = export_run(job=ExportJob.objects.filter(layer__slug=slug).latest("pk"))
        assert job.status == "succeeded", (slug, job.messages)
        assert job.feature_count == Layer.objects.get(slug=slug).feature_count
