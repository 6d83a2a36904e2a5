"""The open-data catalogue (DCAT-AP, read back with rdflib) and each layer's ISO 19139 metadata
(read back with lxml and OWSLib's ISO parser): public layers only, every distribution answers."""

import json

import pytest
from django.contrib.gis.geos import Point, Polygon
from django.test import TestCase
from lxml import etree
from owslib.iso import MD_Metadata
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF
from rest_framework.test import APIClient

from layers.features import exports as export_formats
from layers.services import FeatureRecord, layer_replace_features
from tests.factories import LayerFactory

pytestmark = pytest.mark.django_db

CATALOG = "/api/v1/catalog/"
VCARD = "http://www.w3.org/2006/vcard/ns#"
GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
ATTRIBUTION = '© <a href="https://hue.gov.vn">Sở Xây dựng Huế</a><script>alert(1)</script>'


@pytest.fixture(autouse=True)
def _private_tile_cache(settings, tmp_path):
    settings.TILE_CACHE_DIR = tmp_path / "tiles"
    settings.TILE_ACCEL_REDIRECT_PREFIX = None


@pytest.fixture
def places(layers_by_visibility, category):
    """A public point layer of Huế with a licence, an attribution (with HTML) and keywords."""
    layer = LayerFactory(
        slug="dia-diem",
        title_vi="Địa điểm Huế",
        title_en="Places of Huế",
        description_vi="Các địa điểm nổi tiếng",
        description_en="Well-known places",
        category=category,
        geometry_type="point",
        licence="CC BY 4.0",
        attribution=ATTRIBUTION,
        metadata={"keywords": ["du lịch", "tourism"]},
    )
    records = [
        FeatureRecord(geom=Point(107.5786, 16.4698, srid=4326), attributes={"ten": "Đại Nội"}),
        FeatureRecord(geom=Point(107.5454, 16.4535, srid=4326), attributes={"ten": "Thiên Mụ"}),
    ]
    layer_replace_features(layer=layer, records=records)
    for other in layers_by_visibility.values():
        layer_replace_features(
            layer=other,
            records=[FeatureRecord(geom=Point(107.59, 16.46, srid=4326), attributes={"ten": "x"})],
        )
    layer.refresh_from_db()
    return layer


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def catalogue(client=None, **params) -> Graph:
    response = (client or client_for()).get(CATALOG, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("application/ld+json")
    return Graph().parse(data=response.content, format="json-ld")


def datasets(graph: Graph) -> dict[str, URIRef]:
    return {
        str(graph.value(d, DCTERMS.identifier)): d for d in graph.subjects(RDF.type, DCAT.Dataset)
    }


@pytest.mark.parametrize("who", ["anonymous", "member", "staff"])
def test_the_catalogue_lists_public_layers_only_whoever_asks(places, member, staff, who):
    user = {"anonymous": None, "member": member, "staff": staff}[who]
    response = client_for(user).get(CATALOG)
    graph = Graph().parse(data=response.content, format="json-ld")
    assert set(datasets(graph)) == {"dia-diem", "public-layer"}
    for hidden in ("internal-layer", "restricted-layer"):
        assert hidden not in response.content.decode()


def test_a_draft_public_layer_is_not_catalogued(places):
    LayerFactory(slug="draft-layer", status="draft", visibility="public")
    assert "draft-layer" not in datasets(catalogue())


def test_titles_and_descriptions_in_vietnamese_and_english(places):
    graph = catalogue()
    dataset = datasets(graph)["dia-diem"]
    titles = set(graph.objects(dataset, DCTERMS.title))
    assert Literal("Địa điểm Huế", lang="vi") in titles
    assert Literal("Places of Huế", lang="en") in titles
    descriptions = set(graph.objects(dataset, DCTERMS.description))
    assert Literal("Các địa điểm nổi tiếng", lang="vi") in descriptions
    assert Literal("Well-known places", lang="en") in descriptions
    keywords = {str(k) for k in graph.objects(dataset, DCAT.keyword)}
    assert {"du lịch", "tourism", places.category.name_vi, places.category.name_en} <= keywords
    theme = graph.value(dataset, DCAT.theme)
    assert Literal(places.category.name_vi, lang="vi") in set(graph.objects(theme, DCTERMS.title))


def test_licence_maps_to_its_uri_and_attribution_is_clean_text(places):
    graph = catalogue()
    dataset = datasets(graph)["dia-diem"]
    distributions = list(graph.objects(dataset, DCAT.distribution))
    cc_by = URIRef("https://creativecommons.org/licenses/by/4.0/")
    for distribution in distributions:
        assert graph.value(distribution, DCTERMS.license) == cc_by
    assert (cc_by, RDF.type, DCTERMS.LicenseDocument) in graph
    rights = str(graph.value(graph.value(dataset, DCTERMS.rights), DCTERMS.description))
    assert "CC BY 4.0" in rights and "© Sở Xây dựng Huế" in rights
    assert "<" not in rights and "alert" not in rights


def test_spatial_temporal_publisher_contact_and_landing_page(places, settings):
    graph = catalogue()
    dataset = datasets(graph)["dia-diem"]
    location = graph.value(dataset, DCTERMS.spatial)
    wkt = str(graph.value(location, DCAT.bbox))
    west, south, east, north = places.extent.extent
    assert wkt.startswith("POLYGON((") and f"{west} {south}" in wkt and f"{east} {north}" in wkt
    assert str(graph.value(location, URIRef("http://www.w3.org/ns/locn#geometry"))) == wkt
    assert Polygon.from_ewkt(wkt).equals(places.extent)
    modified = graph.value(dataset, DCTERMS.modified).toPython()
    assert modified == places.updated_at
    assert str(graph.value(dataset, URIRef(str(DCAT) + "version"))) == str(places.version)
    publisher = graph.value(dataset, DCTERMS.publisher)
    assert str(graph.value(publisher, FOAF.name)) == settings.CITY_NAME
    contact = graph.value(dataset, DCAT.contactPoint)
    assert str(graph.value(contact, URIRef(VCARD + "hasEmail"))).startswith("mailto:")
    landing = str(graph.value(dataset, DCAT.landingPage))
    assert landing.endswith("/#layers=dia-diem")


def test_dcat_ap_mandatory_properties_of_each_class(places):
    """DCAT-AP 2/3: the mandatory properties of Catalogue, Dataset, Distribution, Agent and
    DataService, and the types of their values."""
    graph = catalogue()
    (catalog,) = graph.subjects(RDF.type, DCAT.Catalog)
    for prop in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCAT.dataset):
        assert graph.value(catalog, prop) is not None, prop
    for dataset in graph.subjects(RDF.type, DCAT.Dataset):
        assert (catalog, DCAT.dataset, dataset) in graph
        for prop in (DCTERMS.title, DCTERMS.description, DCTERMS.identifier):
            assert graph.value(dataset, prop) is not None, (dataset, prop)
        offered = len(export_formats.FORMATS) + 2  # every export, OGC API, TileJSON
        assert len(list(graph.objects(dataset, DCAT.distribution))) == offered
    for distribution in graph.subjects(RDF.type, DCAT.Distribution):
        assert isinstance(graph.value(distribution, DCAT.accessURL), URIRef)
    for agent in graph.subjects(RDF.type, FOAF.Agent):
        assert graph.value(agent, FOAF.name) is not None
    for service in graph.subjects(RDF.type, DCAT.DataService):
        assert graph.value(service, DCTERMS.title) is not None
        assert isinstance(graph.value(service, DCAT.endpointURL), URIRef)
        assert set(graph.objects(service, DCAT.servesDataset)) == set(datasets(graph).values())


def test_a_ckan_harvester_finds_what_it_needs(places):
    """What ckanext-dcat's RDF parser reads for a CKAN dataset and its resources: each
    dcat:Dataset with dct:title and dct:identifier; each dcat:distribution with an accessURL or
    downloadURL, and a dct:format or dcat:mediaType."""
    response = client_for().get(CATALOG, {"format": "ttl"})
    graph = Graph().parse(data=response.content, format="turtle")
    found = {}
    for dataset in graph.subjects(RDF.type, DCAT.Dataset):
        identifier = graph.value(dataset, DCTERMS.identifier)
        assert identifier and graph.value(dataset, DCTERMS.title)
        resources = []
        for distribution in graph.objects(dataset, DCAT.distribution):
            url = graph.value(distribution, DCAT.downloadURL) or graph.value(
                distribution, DCAT.accessURL
            )
            assert url is not None
            assert graph.value(distribution, DCTERMS.format) or graph.value(
                distribution, DCAT.mediaType
            )
            resources.append(str(graph.value(distribution, DCAT.mediaType)))
        found[str(identifier)] = resources
    assert set(found) == {"dia-diem", "public-layer"}
    media = {m.rsplit("media-types/", 1)[1] for m in found["dia-diem"]}
    assert {
        "application/geo+json",
        "text/csv",
        "application/geopackage+sqlite3",
        "application/zip",
        "application/json",
    } <= media


def test_every_distribution_and_landing_page_answers(places):
    graph = catalogue()
    client = client_for()
    urls = {str(graph.value(d, DCAT.landingPage)) for d in graph.subjects(RDF.type, DCAT.Dataset)}
    for distribution in graph.subjects(RDF.type, DCAT.Distribution):
        urls.add(str(graph.value(distribution, DCAT.accessURL)))
    for service in graph.subjects(RDF.type, DCAT.DataService):
        urls.add(str(graph.value(service, DCAT.endpointURL)))
        urls.add(str(graph.value(service, DCAT.endpointDescription)))
    assert len(urls) == 2 * (len(export_formats.FORMATS) + 3) + 2
    for url in urls:
        with TestCase.captureOnCommitCallbacks(execute=True):
            response = client.get(url.split("#")[0])
        if response.status_code == 303:  # a GeoPackage or Shapefile made by an export job
            response = client.get(response["Location"])
        assert response.status_code == 200, (url, response.status_code)


@pytest.mark.parametrize(
    ("params", "accept", "media_type", "rdflib_format"),
    [
        ({"format": "ttl"}, "", "text/turtle", "turtle"),
        ({"format": "rdf"}, "", "application/rdf+xml", "xml"),
        ({}, "text/turtle", "text/turtle", "turtle"),
        ({}, "application/rdf+xml;q=0.9, */*", "application/rdf+xml", "xml"),
        ({}, "text/html", "application/ld+json", "json-ld"),
    ],
)
def test_turtle_and_rdf_xml_by_format_or_accept(places, params, accept, media_type, rdflib_format):
    response = client_for().get(CATALOG, params, HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == media_type
    graph = Graph().parse(data=response.content, format=rdflib_format)
    assert set(datasets(graph)) == {"dia-diem", "public-layer"}
    assert len(graph) == len(catalogue())


def test_an_unknown_format_is_refused_naming_the_parameter(places):
    response = client_for().get(CATALOG, {"format": "csv"})
    assert response.status_code == 400
    body = json.dumps(response.json())
    assert "format" in body and "jsonld" in body and "ttl" in body


def test_ogc_landing_page_and_collection_link_the_catalogue_and_metadata(places):
    client = client_for()
    landing = client.get("/ogc/", HTTP_ACCEPT="application/json").json()
    (link,) = [x for x in landing["links"] if x["rel"] == "http://www.w3.org/ns/dcat#catalog"]
    assert link["href"].endswith(CATALOG) and client.get(link["href"]).status_code == 200
    collection = client.get("/ogc/collections/dia-diem", HTTP_ACCEPT="application/json").json()
    (link,) = [x for x in collection["links"] if x["rel"] == "describedby"]
    assert link["href"].endswith("/api/v1/layers/dia-diem/metadata.xml")
    assert client.get(link["href"]).status_code == 200


def iso(client, slug):
    return client.get(f"/api/v1/layers/{slug}/metadata.xml")


def test_iso_metadata_reads_back_with_owslib(places, settings):
    response = iso(client_for(), "dia-diem")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/xml")
    root = etree.fromstring(response.content)  # well-formed, or this raises
    record = MD_Metadata(root)
    assert record.identifier == "dia-diem"
    ident = record.identification[0]
    assert ident.title == "Địa điểm Huế"
    assert ident.abstract == "Các địa điểm nổi tiếng"
    west, south, east, north = places.extent.extent
    box = ident.bbox
    assert [float(box.minx), float(box.miny), float(box.maxx), float(box.maxy)] == pytest.approx(
        [west, south, east, north]
    )
    words = {k for group in ident.keywords for k in (kw.name for kw in group.keywords)}
    assert {"du lịch", "tourism", places.category.name_vi} <= words
    constraints = ident.otherconstraints + ident.useconstraints + ident.uselimitation
    rights = " ".join(text for text in constraints if text)
    assert "CC BY 4.0" in rights and "creativecommons.org/licenses/by/4.0" in rights
    assert "© Sở Xây dựng Huế" in rights and "<" not in rights
    assert record.contact[0].organization == settings.CITY_NAME
    assert record.contact[0].email
    assert record.referencesystem.code == "urn:ogc:def:crs:EPSG:4326"
    urls = {o.url for o in record.distribution.online}
    assert "http://testserver/api/v1/layers/dia-diem/export.geojson" in urls
    assert "http://testserver/ogc/collections/dia-diem" in urls


def test_iso_metadata_has_the_required_elements(places):
    """No ISO 19139 XSD ships with pygeometa or OWSLib: the mandatory elements of MD_Metadata
    (ISO 19115 core) are checked by path instead."""
    root = etree.fromstring(iso(client_for(), "dia-diem").content)
    ns = {"gmd": GMD, "gco": GCO}
    assert root.tag == f"{{{GMD}}}MD_Metadata"
    for path in (
        "gmd:fileIdentifier/gco:CharacterString",
        "gmd:language",
        "gmd:characterSet",
        "gmd:hierarchyLevel",
        "gmd:contact/gmd:CI_ResponsibleParty",
        "gmd:dateStamp",
        "gmd:referenceSystemInfo",
        "gmd:identificationInfo/gmd:MD_DataIdentification/gmd:citation/gmd:CI_Citation/gmd:title",
        "gmd:identificationInfo/gmd:MD_DataIdentification/gmd:abstract",
        "gmd:identificationInfo/gmd:MD_DataIdentification/gmd:language",
        "gmd:identificationInfo/gmd:MD_DataIdentification/gmd:topicCategory",
        "gmd:identificationInfo/gmd:MD_DataIdentification/gmd:extent/gmd:EX_Extent/"
        "gmd:geographicElement/gmd:EX_GeographicBoundingBox/gmd:westBoundLongitude",
        "gmd:distributionInfo/gmd:MD_Distribution/gmd:transferOptions",
    ):
        assert root.find(path, ns) is not None, path


def test_iso_metadata_follows_visibility(places, member, signed_in):
    assert iso(client_for(), "restricted-layer").status_code == 404
    assert iso(client_for(), "internal-layer").status_code == 404
    assert iso(client_for(signed_in), "restricted-layer").status_code == 404
    assert iso(client_for(signed_in), "internal-layer").status_code == 200
    response = iso(client_for(member), "restricted-layer")
    assert response.status_code == 200 and "private" in response["Cache-Control"]
    assert iso(client_for(), "no-such-layer").status_code == 404
