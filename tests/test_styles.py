"""Styles: /styles/map.json and /styles/layers/{slug}.json (layers/styles.py, layers/api/styles.py).

Every served style is checked by the MapLibre style specification's own validator (npm
@maplibre/maplibre-gl-style-spec, run by node over tests/styles/validate.mjs).
"""

import json
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from layers.demo.catalogue import catalogue_load
from layers.models import Category
from layers.styles import map_style
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

VALIDATOR = Path(settings.BASE_DIR) / "scripts" / "validate_styles.mjs"
STYLE_TYPE = "application/vnd.mapbox.style+json"


def validate(styles: dict) -> dict:
    """Return {name: [errors]} from the style specification's validator."""
    done = subprocess.run(
        ["node", str(VALIDATOR)],
        input=json.dumps(styles),
        capture_output=True,
        text=True,
        check=True,
        cwd=settings.BASE_DIR,
    )
    return json.loads(done.stdout)


def assert_valid(styles: dict) -> None:
    errors = {name: found for name, found in validate(styles).items() if found}
    assert not errors, errors


def test_the_validator_finds_errors():
    broken = {"version": 8, "sources": {}, "layers": [{"id": "x", "type": "fill", "source": "no"}]}
    assert validate({"broken": broken})["broken"]


SHAPES = {
    "one-layer": {"type": "line", "paint": {"line-color": "#123456", "line-width": 3}},
    "paint-only": {"paint": {"fill-color": "#ff0000", "fill-opacity": 0.5}},
    "several": {
        "layers": [
            {"type": "fill", "paint": {"fill-color": "#00ff00"}},
            {"type": "line", "paint": {"line-color": "#004400"}, "minzoom": 12},
        ]
    },
    "empty": {},
}


@pytest.fixture
def styled(category):
    layers = {
        name: LayerFactory(slug=f"shape-{name}", category=category, style=style,
                           geometry_type="line" if name == "one-layer" else "polygon")
        for name, style in SHAPES.items()
    }  # fmt: skip
    layers["3d"] = LayerFactory(
        slug="buildings-3d",
        category=category,
        geometry_type="polygon",
        attribute_schema=[{"name": "ten", "type": "text"}, {"name": "so_tang", "type": "integer"}],
        style={"paint": {"fill-color": "#999999"}, "label": {"minzoom": 16}},
    )
    layers["mixed"] = LayerFactory(slug="mixed", category=category, geometry_type="mixed")
    layers["points"] = LayerFactory(slug="points", category=category, geometry_type="point")
    return layers


def test_each_style_shape_builds_a_valid_layer_style(client, styled):
    served = {}
    for name, layer in styled.items():
        response = client.get(f"/styles/layers/{layer.slug}.json")
        assert response.status_code == 200, name
        assert response["Content-Type"].startswith(STYLE_TYPE)
        served[name] = response.json()
    assert_valid(served)
    ids = [item["id"] for item in served["several"]["layers"]]
    assert ids[:2] == ["L:shape-several:0", "L:shape-several:1"]
    assert served["several"]["layers"][1]["minzoom"] == 12
    assert served["paint-only"]["layers"][0]["type"] == "fill"
    assert served["one-layer"]["layers"][0]["paint"]["line-width"] == 3
    # A layer without a style gets the map's default, coloured from its slug.
    assert served["empty"]["layers"][0]["type"] == "fill"


def test_a_layer_style_has_absolute_tiles_glyphs_and_credits(client, styled):
    layer = styled["points"]
    layer.attribution = 'Data <a href="https://example.org">Sở XD</a><script>x</script>'
    layer.save()
    style = client.get(f"/styles/layers/{layer.slug}.json").json()
    source = style["sources"]["S:points"]
    assert source["tiles"] == [
        f"http://testserver/tiles/points/{{z}}/{{x}}/{{y}}.pbf?v={layer.version}"
    ]
    assert style["glyphs"] == "http://testserver/static/glyphs/{fontstack}/{range}.pbf"
    assert "<script>" not in source["attribution"] and "Sở XD" in source["attribution"]
    label = next(item for item in style["layers"] if item["id"] == "L:points:label")
    assert label["layout"]["text-field"] == ["to-string", ["get", "ten"]]


def test_3d_and_label_layers(client, styled):
    style = client.get("/styles/layers/buildings-3d.json").json()
    by_id = {item["id"]: item for item in style["layers"]}
    extrusion = by_id["L:buildings-3d:3d"]
    assert extrusion["type"] == "fill-extrusion"
    assert extrusion["paint"]["fill-extrusion-color"] == "#999999"
    assert extrusion["paint"]["fill-extrusion-height"] == [
        "max",
        ["*", ["to-number", ["get", "so_tang"], 0], 3.2],
        6,
    ]
    assert by_id["L:buildings-3d:label"]["minzoom"] == 16
    # Drawn, then extrusions, then labels.
    assert list(by_id) == ["L:buildings-3d:0", "L:buildings-3d:3d", "L:buildings-3d:label"]


def test_a_mixed_layer_draws_each_geometry_with_its_own_filter(client, styled):
    style = client.get("/styles/layers/mixed.json").json()
    kinds = [(item["type"], item["filter"][2]) for item in style["layers"][:3]]
    assert kinds == [
        ("fill", ["Polygon", "MultiPolygon"]),
        ("line", ["LineString", "MultiLineString"]),
        ("circle", ["Point", "MultiPoint"]),
    ]


def test_private_layers_never_appear_in_an_anonymous_style(client, layers_by_visibility, member):
    anonymous = client.get("/styles/map.json")
    assert anonymous.status_code == 200
    text = anonymous.content.decode()
    assert "public-layer" in text
    assert "internal-layer" not in text and "restricted-layer" not in text
    assert client.get("/styles/layers/internal-layer.json").status_code == 404
    assert client.get("/styles/layers/restricted-layer.json").status_code == 404
    assert client.get("/styles/layers/no-such.json").json()["parameter"] == "slug"

    client.force_login(member)
    signed = client.get("/styles/map.json")
    text = signed.content.decode()
    assert "internal-layer" in text and "restricted-layer" in text
    assert client.get("/styles/layers/restricted-layer.json").status_code == 200
    assert_valid({"anonymous": anonymous.json(), "member": signed.json()})


def test_cache_headers_follow_the_visibility(client, layers_by_visibility, member):
    public = client.get("/styles/layers/public-layer.json")
    assert public["Cache-Control"].startswith("public")
    assert "Cookie" in public["Vary"]
    assert public["Access-Control-Allow-Origin"] == "*"
    client.force_login(member)
    for url in ("/styles/map.json", "/styles/layers/restricted-layer.json"):
        response = client.get(url)
        assert response["Cache-Control"] == "private, max-age=0, must-revalidate", url
        assert "Cookie" in response["Vary"] and "Authorization" in response["Vary"], url
        assert "Access-Control-Allow-Origin" not in response, url


def test_etag_and_304(client, styled):
    url = "/styles/layers/points.json"
    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304 and not again.content
    layer = styled["points"]
    layer.style = {"paint": {"circle-color": "#000000"}}
    layer.save()
    changed = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


def test_writes_are_refused(client, styled):
    assert client.post("/styles/map.json").status_code == 405


def test_the_map_style_stacks_base_composite_and_themes(client, category, settings):
    settings.WEBMAP_BASE_LAYERS = ["ranh-gioi", "duong"]
    settings.WEBMAP_DEFAULT_LAYERS = ["di-tich"]
    LayerFactory(slug="duong", category=category, geometry_type="line", max_zoom=16)
    LayerFactory(slug="ranh-gioi", category=category, geometry_type="polygon", max_zoom=16)
    LayerFactory(slug="di-tich", category=category, geometry_type="point", max_zoom=16)
    LayerFactory(slug="benh-vien", category=category, geometry_type="point")
    LayerFactory(slug="nhap", category=category, status="draft")
    style = client.get("/styles/map.json").json()
    assert style["sources"]["base"]["tiles"][0].startswith(
        "http://testserver/tiles/ranh-gioi,duong,di-tich/{z}/{x}/{y}.pbf?v="
    )
    assert "S:benh-vien" in style["sources"] and "S:nhap" not in style["sources"]
    drawn = [item["id"] for item in style["layers"] if item["id"].endswith(":0")]
    # The base map from the bottom, in the order settings give it, then the themes.
    assert drawn[:2] == ["L:ranh-gioi:0", "L:duong:0"]
    assert {"L:benh-vien:0", "L:di-tich:0"} <= set(drawn[2:])
    by_id = {item["id"]: item for item in style["layers"]}
    assert by_id["L:di-tich:0"]["layout"]["visibility"] == "visible"
    assert by_id["L:benh-vien:0"]["layout"]["visibility"] == "none"
    # The base map's polygons are unlabelled, its lines are.
    assert "L:ranh-gioi:label" not in by_id and "L:duong:label" in by_id
    assert style["layers"][0]["id"] == "background"
    assert_valid({"map": style})


def test_an_external_base_map_is_a_raster_source(client, category, settings):
    settings.WEBMAP_BASEMAP_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    settings.WEBMAP_BASEMAP_ATTRIBUTION = "© OSM"
    LayerFactory(category=category)
    style = client.get("/styles/map.json").json()
    assert style["sources"]["basemap"]["type"] == "raster"
    assert [item["id"] for item in style["layers"][:2]] == ["background", "basemap"]
    assert_valid({"map": style})


def test_every_demo_layer_and_the_demo_map_style_validate(client, settings, staff):
    catalogue = catalogue_load()
    categories = {
        spec.slug: Category.objects.create(slug=spec.slug, name_vi=spec.name_vi,
                                           name_en=spec.name_en, order=spec.order)
        for spec in catalogue.categories
    }  # fmt: skip
    for spec in catalogue.layers:
        LayerFactory(slug=spec.slug, category=categories[spec.category], **spec.fields)
    client.force_login(staff)
    served = {
        spec.slug: client.get(f"/styles/layers/{spec.slug}.json").json()
        for spec in catalogue.layers
    }
    served["map"] = client.get("/styles/map.json").json()
    assert_valid(served)
    assert {spec.slug for spec in catalogue.layers} <= {
        item["source-layer"] for item in served["map"]["layers"] if "source-layer" in item
    }
    # The Python module builds the same map style as the view.
    assert map_style([], origin="http://x")["layers"][0]["id"] == "background"


def test_a_shared_views_layers_are_shown_and_private_ones_ignored(
    client, category, settings, layers_by_visibility
):
    settings.WEBMAP_BASE_LAYERS = ["duong"]
    settings.WEBMAP_DEFAULT_LAYERS = ["di-tich"]
    LayerFactory(slug="duong", category=category, geometry_type="line", max_zoom=16)
    LayerFactory(slug="di-tich", category=category, geometry_type="point", max_zoom=16)
    style = client.get("/styles/map.json?layers=public-layer,internal-layer").json()
    by_id = {item["id"]: item for item in style["layers"]}
    assert by_id["L:public-layer:0"]["layout"]["visibility"] == "visible"
    assert by_id["L:di-tich:0"]["layout"]["visibility"] == "none"
    assert "internal-layer" not in json.dumps(style)
    # Only the themes the map opens with ride in the base map's tiles, and only when shown.
    assert style["metadata"]["mapserver:composite"] == ["duong"]
    assert style["metadata"]["mapserver:on"] == ["duong", "public-layer"]
    default = client.get("/styles/map.json").json()
    assert default["metadata"]["mapserver:composite"] == ["duong", "di-tich"]
    assert_valid({"shared": style})


def test_a_style_that_would_not_validate_is_refused_when_saved(category):
    from django.core.exceptions import ValidationError
    from django.utils import translation

    from layers.services import layer_update

    layer = LayerFactory(slug="checked", category=category, geometry_type="polygon")
    with translation.override("en"):
        with pytest.raises(ValidationError) as refused:
            layer_update(layer=layer, data={"style": {"paint": {"fill-colr": "#ff0000"}}})
        messages = [str(message) for message in refused.value.message_dict["style"]]
    assert "not make a valid MapLibre style" in messages[0]
    assert 'L:checked:0.paint.fill-colr: unknown property "fill-colr"' in messages
    # In the product's language the heading is Vietnamese; the validator's lines stay as said.
    with translation.override("vi"):
        heading = str(refused.value.message_dict["style"][0])
    assert "không phải là một kiểu MapLibre hợp lệ" in heading
    with pytest.raises(ValidationError) as refused:
        layer_update(layer=layer, data={"style": {"layers": {"type": "fill"}}})
    assert '"layers" must be a list' in refused.value.message_dict["style"][1]
    with pytest.raises(ValidationError):
        layer_update(layer=layer, data={"style": {"type": "line", "paint": {"line-width": "x"}}})
    layer.refresh_from_db()
    assert layer.style == {}
    saved = layer_update(layer=layer, data={"style": {"paint": {"fill-color": "#00ff00"}}})
    assert saved.style == {"paint": {"fill-color": "#00ff00"}}


def test_the_rest_layer_and_the_ogc_collection_link_to_the_style(client, styled):
    url = "http://testserver/styles/layers/points.json"
    assert client.get("/api/v1/layers/points/").json()["links"]["style"] == url
    collection = client.get("/ogc/collections/points", {"f": "json"}).json()
    links = [link for link in collection["links"] if link["rel"] == "stylesheet"]
    assert links == [
        {"href": url, "rel": "stylesheet", "type": STYLE_TYPE, "title": "Its MapLibre style"}
    ]
    assert client.get(links[0]["href"]).status_code == 200
