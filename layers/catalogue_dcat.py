"""The open-data catalogue: public layers as DCAT-AP (rdflib) and as ISO 19139 records (pygeometa).

Only `public` layers are ever catalogued: the catalogue is read by harvesters (a CKAN portal with
ckanext-dcat), which republish what they read, so it never depends on who asks. ISO records follow
the ordinary visibility rule (a layer the requester may not see answers 404, in the view).

The graph is built with rdflib and serialised by its own JSON-LD, Turtle and RDF/XML writers: no RDF
is written by hand. The ISO record is written by pygeometa from an MCF dictionary.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC

from django.conf import settings
from django.urls import reverse
from django.utils.html import strip_tags
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, OWL, RDF, XSD

from .features import exports as export_formats
from .models import Layer
from .rich_text import clean_attribution
from .selectors import layers_visible_to

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
LOCN = Namespace("http://www.w3.org/ns/locn#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
IANA = "https://www.iana.org/assignments/media-types/"
OGC_API_FEATURES = URIRef("http://www.opengis.net/spec/ogcapi-features-1/1.0")
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
DCAT3_VERSION = URIRef("http://www.w3.org/ns/dcat#version")  # DCAT 3; rdflib knows DCAT 2

# Known licences (compared without case, spaces, dots or dashes) and their canonical URIs.
LICENCE_URIS = {
    "ccby40": "https://creativecommons.org/licenses/by/4.0/",
    "ccby": "https://creativecommons.org/licenses/by/4.0/",
    "ccbysa40": "https://creativecommons.org/licenses/by-sa/4.0/",
    "ccbysa": "https://creativecommons.org/licenses/by-sa/4.0/",
    "ccbync40": "https://creativecommons.org/licenses/by-nc/4.0/",
    "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "cc010": "https://creativecommons.org/publicdomain/zero/1.0/",
    "odbl": "https://opendatacommons.org/licenses/odbl/1-0/",
    "odbl10": "https://opendatacommons.org/licenses/odbl/1-0/",
    "pddl": "https://opendatacommons.org/licenses/pddl/1-0/",
    "odcby": "https://opendatacommons.org/licenses/by/1-0/",
}

# Serialisations: ?format= value -> (rdflib format, media type).
FORMATS = {
    "jsonld": ("json-ld", "application/ld+json"),
    "ttl": ("turtle", "text/turtle"),
    "rdf": ("xml", "application/rdf+xml"),
}


def licence_uri(licence: str) -> str | None:
    """Return the URI of a known licence ("CC BY 4.0", "ODbL", an http(s) URL), else None."""
    text = (licence or "").strip()
    if re.match(r"https?://", text):
        return text
    return LICENCE_URIS.get(re.sub(r"[\s.\-_]", "", text.lower()))


def attribution_text(layer: Layer) -> str:
    """Return the layer's attribution as plain text (cleaned, tags dropped)."""
    return " ".join(strip_tags(clean_attribution(layer.attribution)).split())


def catalogued_layers():
    """Return the layers the catalogue lists: those anyone (anonymous) may see."""
    return layers_visible_to(user=None)


# Export formats (layers/features/exports.FORMATS): EU file-type code and title of each.
EXPORT_FILE_TYPES = {
    "geojson": ("GEOJSON", "GeoJSON"),
    "csv": ("CSV", "CSV"),
    "gpkg": ("GPKG", "GeoPackage"),
    "shp.zip": ("SHP", "Shapefile (zip)"),
    "kml": ("KML", "KML"),
}


def distributions(layer: Layer, absolute: Callable[[str], str]) -> list[dict]:
    """Return what a layer is offered as: each with its URL, media type, EU file type and title.

    Every export format the API offers (its export URLs), the OGC API collection and TileJSON.
    """
    slug = layer.slug
    offered = []
    for fmt, export_format in export_formats.FORMATS.items():
        file_type, title = EXPORT_FILE_TYPES.get(fmt, (fmt.split(".")[0].upper(), fmt))
        url = reverse("api:layer-export", kwargs={"slug": slug, "fmt": fmt})
        offered.append(
            {"key": fmt.replace(".", "-"), "url": absolute(url), "download": True,
             "media_type": export_format.content_type.split(";")[0], "file_type": file_type,
             "title": title}
        )  # fmt: skip
    collection = reverse("ogc:collection", kwargs={"collection_id": slug})
    return [
        *offered,
        {"key": "ogc", "url": absolute(collection), "download": False,
         "media_type": "application/json", "file_type": "JSON", "title": "OGC API - Features"},
        # The tile routes belong to the tiles package; their paths are fixed by DESIGN.md.
        {"key": "tilejson", "url": absolute(f"/tiles/{slug}.json"), "download": False,
         "media_type": "application/json", "file_type": "JSON",
         "title": "Vector tiles (TileJSON)"},
    ]  # fmt: skip


def landing_page(layer: Layer, absolute: Callable[[str], str]) -> str:
    """Return the URL of the web map with this layer on."""
    return absolute(reverse("map")) + f"#layers={layer.slug}"


def _bbox_wkt(layer: Layer) -> str | None:
    if not layer.extent:
        return None
    west, south, east, north = layer.extent.extent
    return f"POLYGON(({west} {south},{east} {south},{east} {north},{west} {north},{west} {south}))"


def catalogue_graph(absolute: Callable[[str], str], layers: Iterable[Layer] | None = None) -> Graph:
    """Return the DCAT-AP graph of the catalogue: one dcat:Dataset per public layer."""
    graph = Graph()
    for prefix, namespace in (
        ("dcat", DCAT), ("dct", DCTERMS), ("foaf", FOAF), ("vcard", VCARD), ("locn", LOCN),
        ("adms", ADMS), ("gsp", GSP),
    ):  # fmt: skip
        graph.bind(prefix, namespace)
    catalogue = URIRef(absolute(reverse("api:dcat-catalog")))
    city = settings.CITY_NAME
    publisher = URIRef(absolute(reverse("map")) + "#publisher")
    graph.add((publisher, RDF.type, FOAF.Agent))
    graph.add((publisher, FOAF.name, Literal(city)))
    graph.add((catalogue, RDF.type, DCAT.Catalog))
    graph.add((catalogue, DCTERMS.title, Literal(f"{city}: lớp bản đồ", lang="vi")))
    graph.add((catalogue, DCTERMS.title, Literal(f"{city}: map layers", lang="en")))
    graph.add((catalogue, DCTERMS.description, Literal(
        f"Các lớp bản đồ công khai của {city}.", lang="vi")))  # fmt: skip
    graph.add((catalogue, DCTERMS.description, Literal(
        f"The public map layers of {city}.", lang="en")))  # fmt: skip
    graph.add((catalogue, DCTERMS.publisher, publisher))
    graph.add((catalogue, FOAF.homepage, URIRef(absolute(reverse("map")))))
    for lang in ("VIE", "ENG"):
        graph.add((catalogue, DCTERMS.language, URIRef(
            f"http://publications.europa.eu/resource/authority/language/{lang}")))  # fmt: skip
    ogc_service = URIRef(absolute(reverse("ogc:landing")))
    graph.add((ogc_service, RDF.type, DCAT.DataService))
    graph.add((ogc_service, DCTERMS.title, Literal(f"{city}: OGC API - Features", lang="en")))
    graph.add((ogc_service, DCAT.endpointURL, ogc_service))
    graph.add((ogc_service, DCAT.endpointDescription, URIRef(absolute(reverse("ogc:api")))))
    graph.add((ogc_service, DCTERMS.conformsTo, OGC_API_FEATURES))
    graph.add((catalogue, DCAT.service, ogc_service))
    latest = None
    for layer in catalogued_layers() if layers is None else layers:
        dataset = _add_dataset(graph, layer, absolute, publisher, ogc_service)
        graph.add((catalogue, DCAT.dataset, dataset))
        graph.add((ogc_service, DCAT.servesDataset, dataset))
        if latest is None or layer.updated_at > latest:
            latest = layer.updated_at
    if latest is not None:
        graph.add((catalogue, DCTERMS.modified, _datetime(latest)))
    return graph


def _datetime(value) -> Literal:
    return Literal(value.astimezone(UTC).isoformat(), datatype=XSD.dateTime)


def _add_dataset(graph: Graph, layer: Layer, absolute, publisher, ogc_service) -> URIRef:
    detail = absolute(reverse("api:layer-detail", kwargs={"slug": layer.slug}))
    dataset = URIRef(detail + "#dataset")
    add = graph.add
    add((dataset, RDF.type, DCAT.Dataset))
    add((dataset, DCTERMS.identifier, Literal(layer.slug)))
    add((dataset, DCTERMS.title, Literal(layer.title_vi, lang="vi")))
    add((dataset, DCTERMS.title, Literal(layer.title_en or layer.title_vi, lang="en")))
    add((dataset, DCTERMS.description, Literal(layer.description_vi or layer.title_vi, lang="vi")))
    add((dataset, DCTERMS.description, Literal(
        layer.description_en or layer.title_en or layer.title_vi, lang="en")))  # fmt: skip
    for keyword in (layer.metadata or {}).get("keywords") or []:
        add((dataset, DCAT.keyword, Literal(str(keyword))))
    category = layer.category
    theme = URIRef(absolute(reverse("api:category-list")) + f"#{category.slug}")
    add((dataset, DCAT.theme, theme))
    add((theme, DCTERMS.title, Literal(category.name_vi, lang="vi")))
    if category.name_en:
        add((theme, DCTERMS.title, Literal(category.name_en, lang="en")))
        add((dataset, DCAT.keyword, Literal(category.name_en, lang="en")))
    add((dataset, DCAT.keyword, Literal(category.name_vi, lang="vi")))
    if wkt := _bbox_wkt(layer):
        location = BNode()
        add((dataset, DCTERMS.spatial, location))
        add((location, RDF.type, DCTERMS.Location))
        add((location, DCAT.bbox, Literal(wkt, datatype=GSP.wktLiteral)))
        add((location, LOCN.geometry, Literal(wkt, datatype=GSP.wktLiteral)))
    add((dataset, DCTERMS.issued, _datetime(layer.created_at)))
    add((dataset, DCTERMS.modified, _datetime(layer.updated_at)))
    add((dataset, DCAT3_VERSION, Literal(str(layer.version))))
    add((dataset, OWL.versionInfo, Literal(str(layer.version))))  # DCAT-AP 2
    add((dataset, DCTERMS.publisher, publisher))
    add((dataset, DCAT.landingPage, URIRef(landing_page(layer, absolute))))
    contact = BNode()
    add((dataset, DCAT.contactPoint, contact))
    add((contact, RDF.type, VCARD.Organization))
    add((contact, VCARD.fn, Literal(settings.CITY_NAME)))
    add((contact, VCARD.hasEmail, URIRef(f"mailto:{contact_email()}")))
    licence = licence_uri(layer.licence)
    rights_text = "; ".join(t for t in (layer.licence.strip(), attribution_text(layer)) if t)
    rights = None
    if rights_text:
        rights = BNode()
        add((dataset, DCTERMS.rights, rights))
        add((rights, RDF.type, DCTERMS.RightsStatement))
        add((rights, DCTERMS.description, Literal(rights_text)))
    if source := layer.source.strip():
        add((dataset, DCTERMS.source, Literal(source)))
    for offered in distributions(layer, absolute):
        distribution = URIRef(f"{detail}#distribution-{offered['key']}")
        add((dataset, DCAT.distribution, distribution))
        add((distribution, RDF.type, DCAT.Distribution))
        add((distribution, DCTERMS.title, Literal(offered["title"], lang="en")))
        add((distribution, DCAT.accessURL, URIRef(offered["url"])))
        if offered["download"]:
            add((distribution, DCAT.downloadURL, URIRef(offered["url"])))
        add((distribution, DCAT.mediaType, URIRef(IANA + offered["media_type"])))
        add((distribution, DCTERMS.format, URIRef(EU_FILE_TYPE + offered["file_type"])))
        add((distribution, DCTERMS.modified, _datetime(layer.updated_at)))
        if licence:
            add((distribution, DCTERMS.license, URIRef(licence)))
        if rights is not None:
            add((distribution, DCTERMS.rights, rights))
        if offered["key"] == "ogc":
            add((distribution, DCAT.accessService, ogc_service))
            add((distribution, DCTERMS.conformsTo, OGC_API_FEATURES))
    if licence:
        add((URIRef(licence), RDF.type, DCTERMS.LicenseDocument))
    return dataset


def contact_email() -> str:
    """Return the address harvesters show as the datasets' contact point."""
    return getattr(settings, "CATALOGUE_CONTACT_EMAIL", "") or settings.DEFAULT_FROM_EMAIL


def serialise(graph: Graph, fmt: str) -> str:
    """Return the graph in one of FORMATS (`jsonld`, `ttl`, `rdf`)."""
    rdflib_format, _ = FORMATS[fmt]
    if fmt == "jsonld":
        context = {prefix: str(namespace) for prefix, namespace in graph.namespaces()}
        return graph.serialize(format="json-ld", context=context, auto_compact=True)
    return graph.serialize(format=rdflib_format)


def iso_metadata_xml(layer: Layer, absolute: Callable[[str], str]) -> str:
    """Return the layer's ISO 19115 metadata, encoded as ISO 19139 XML by pygeometa."""
    from pygeometa.schemas.iso19139 import ISO19139OutputSchema

    return ISO19139OutputSchema().write(iso_mcf(layer, absolute))


def iso_mcf(layer: Layer, absolute: Callable[[str], str]) -> dict:
    """Return the layer's metadata as a pygeometa MCF dictionary."""
    city = settings.CITY_NAME
    created = layer.created_at.astimezone(UTC).isoformat()
    updated = layer.updated_at.astimezone(UTC).isoformat()
    keywords = [str(k) for k in (layer.metadata or {}).get("keywords") or []]
    keywords += [name for name in (layer.category.name_vi, layer.category.name_en) if name]
    contact = {
        "organization": city,
        "email": contact_email(),
        "url": absolute(reverse("map")),
        "role": "pointOfContact",
    }
    identification = {
        "language": "vie",
        "charset": "utf8",
        "title": {"vie": layer.title_vi, "eng": layer.title_en or layer.title_vi},
        "abstract": {
            "vie": layer.description_vi or layer.title_vi,
            "eng": layer.description_en or layer.title_en or layer.title_vi,
        },
        "dates": {"creation": created, "revision": updated},
        "keywords": {"default": {"keywords": {"vie": keywords, "eng": keywords},
                                 "keywords_type": "theme"}},
        "topiccategory": ["location"],
        "extents": {"spatial": [{"bbox": list(layer.extent.extent), "crs": 4326}]}
        if layer.extent else {"spatial": []},
        "fees": "None",
        "accessconstraints": "otherRestrictions",
        "rights": {"vie": _rights(layer), "eng": _rights(layer)},
        "url": landing_page(layer, absolute),
        "status": "onGoing",
        "maintenancefrequency": "asNeeded",
    }  # fmt: skip
    return {
        "mcf": {"version": 1.0},
        "metadata": {
            "identifier": layer.slug,
            "language": "vie",
            "language_alternate": "eng",
            "charset": "utf8",
            "hierarchylevel": "dataset",
            "datestamp": updated,
            "dataseturi": absolute(reverse("api:layer-detail", kwargs={"slug": layer.slug})),
        },
        "spatial": {"datatype": "vector", "geomtype": _geomtype(layer)},
        "identification": identification,
        "contact": {
            # pygeometa writes the metadata's own gmd:contact from any role but these two.
            "publisher": {**contact, "role": "publisher"},
            "pointOfContact": contact,
            "distributor": {**contact, "role": "distributor"},
        },
        "distribution": {
            offered["key"]: {
                "url": offered["url"],
                "type": "WWW:DOWNLOAD-1.0-http--download"
                if offered["download"]
                else "OGC:API-Features"
                if offered["key"] == "ogc"
                else "WWW:LINK",
                "name": offered["title"],
                "description": {"vie": offered["title"], "eng": offered["title"]},
                "function": "download" if offered["download"] else "information",
            }
            for offered in distributions(layer, absolute)
        },
        "referencesystem": {"code": "4326", "codespace": "EPSG"},
    }


def _rights(layer: Layer) -> str:
    parts = [layer.licence.strip(), licence_uri(layer.licence) or "", attribution_text(layer)]
    return "; ".join(dict.fromkeys(p for p in parts if p)) or "No licence stated."


def _geomtype(layer: Layer) -> str:
    kind = (layer.geometry_type or "").lower()
    if "point" in kind:
        return "point"
    if "line" in kind:
        return "curve"
    if "polygon" in kind:
        return "surface"
    return "complex"


def catalogue_link(request) -> dict:
    """Return the OGC API link to the DCAT catalogue (for the landing page)."""
    return {
        "href": request.build_absolute_uri(reverse("api:dcat-catalog")),
        "rel": "http://www.w3.org/ns/dcat#catalog",
        "type": "application/ld+json",
        "title": "DCAT-AP catalogue of the public layers",
    }


def iso_metadata_link(request, layer: Layer) -> dict:
    """Return the OGC API link to a layer's ISO 19139 metadata (for its collection)."""
    return {
        "href": request.build_absolute_uri(
            reverse("api:layer-metadata-iso", kwargs={"slug": layer.slug})
        ),
        "rel": "describedby",
        "type": "application/xml",
        "title": "ISO 19139 metadata",
    }
