"""The demo catalogue: categories, groups and layer definitions (fixtures/demo/catalogue.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from ..models import Layer
from ..rich_text import clean_attribution

CATALOGUE_PATH = Path(settings.BASE_DIR) / "fixtures" / "demo" / "catalogue.json"

# The Layer fields a definition sets, besides slug, category and groups.
LAYER_FIELDS = (
    "title_vi",
    "title_en",
    "description_vi",
    "description_en",
    "geometry_type",
    "attribute_schema",
    "name_field",
    "style",
    "min_zoom",
    "max_zoom",
    "prebuild_zoom",
    "visibility",
)
# Layer fields a definition may leave out, and their value then.
OPTIONAL_LAYER_FIELDS = {"time_start_field": "", "time_end_field": ""}
DATE_TYPES = frozenset({"date", "datetime"})
PROVENANCE_FIELDS = ("source", "licence", "attribution")


class CatalogueError(ValueError):
    """The catalogue file contradicts itself."""


@dataclass(frozen=True)
class CategorySpec:
    """A category as the catalogue defines it."""

    slug: str
    name_vi: str
    name_en: str
    order: int
    icon: str


@dataclass(frozen=True)
class LayerSpec:
    """A demo layer: what builds its data, and the values of its Layer fields."""

    slug: str
    builder: str
    category: str
    groups: tuple[str, ...]
    fields: dict
    # Attributes every feature of the layer gets (e.g. its validity: {"valid_to": "2025-06-30"}).
    feature_attributes: dict = field(default_factory=dict)
    # What the layer's metadata holds besides the loader's own keys (e.g. "search_fields").
    metadata: dict = field(default_factory=dict)
    # Where its data may lie (west, south, east, north); None: the city's region.
    region_bbox: tuple[float, float, float, float] | None = None

    @property
    def name_field(self) -> str:
        return self.fields["name_field"]


@dataclass(frozen=True)
class Catalogue:
    """Everything the demo defines."""

    categories: list[CategorySpec]
    groups: list[str]
    layers: list[LayerSpec]


def catalogue_load(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read and check the catalogue file."""
    with path.open(encoding="utf-8") as handle:
        data = json.load(handle)
    # Saving a layer cleans its attribution (layers/rich_text.py: links gain a rel); compare the
    # demo's with the stored one in that form, or every run would see a change and save again.
    provenance = {
        key: {**fields, "attribution": clean_attribution(fields["attribution"])}
        for key, fields in data["provenance"].items()
    }
    categories = [CategorySpec(**item) for item in data["categories"]]
    layers = [
        LayerSpec(
            slug=item["slug"],
            builder=item["builder"],
            category=item["category"],
            groups=tuple(item.get("groups", ())),
            fields={
                **{name: item[name] for name in LAYER_FIELDS},
                **{name: item.get(name, v) for name, v in OPTIONAL_LAYER_FIELDS.items()},
                **{name: provenance[item["provenance"]][name] for name in PROVENANCE_FIELDS},
            },
            feature_attributes=item.get("feature_attributes", {}),
            metadata={"search_fields": item["search_fields"]} if "search_fields" in item else {},
            region_bbox=tuple(item["region_bbox"]) if "region_bbox" in item else None,
        )
        for item in data["layers"]
    ]
    catalogue = Catalogue(categories=categories, groups=data["groups"], layers=layers)
    _check(catalogue)
    return catalogue


def _check(catalogue: Catalogue) -> None:
    category_slugs = {c.slug for c in catalogue.categories}
    layer_slugs = [spec.slug for spec in catalogue.layers]
    if len(set(layer_slugs)) != len(layer_slugs):
        raise CatalogueError("Two demo layers share a slug.")
    for spec in catalogue.layers:
        names = [field["name"] for field in spec.fields["attribute_schema"]]
        types = {field["name"]: field["type"] for field in spec.fields["attribute_schema"]}
        time_fields = [spec.fields[name] for name in OPTIONAL_LAYER_FIELDS if spec.fields[name]]
        searched = spec.metadata.get("search_fields", [])
        region = spec.region_bbox
        problems = [
            spec.category not in category_slugs and f"unknown category {spec.category!r}",
            spec.name_field not in names and f"naming field {spec.name_field!r} not in the schema",
            len(set(names)) != len(names) and "a field is listed twice",
            not set(spec.groups) <= set(catalogue.groups) and f"unknown group in {spec.groups}",
            spec.fields["prebuild_zoom"] > spec.fields["max_zoom"] and "prebuild over max zoom",
            not spec.fields["attribution"] and "no attribution",
            *(
                len(spec.fields[name]) > Layer._meta.get_field(name).max_length
                and f"{name} longer than {Layer._meta.get_field(name).max_length} characters"
                for name in ("title_vi", "title_en", "licence")
            ),
            any(types.get(name) not in DATE_TYPES for name in time_fields)
            and f"a time field of {time_fields} is not a date attribute of the schema",
            not set(spec.feature_attributes) <= set(names)
            and f"a feature attribute of {sorted(spec.feature_attributes)} not in the schema",
            not set(searched) <= set(names) and f"a searched field of {searched} not in the schema",
            region is not None
            and (len(region) != 4 or region[0] >= region[2] or region[1] >= region[3])
            and f"region_bbox {region} is not (west, south, east, north)",
        ]
        for problem in filter(None, problems):
            raise CatalogueError(f"Demo layer {spec.slug}: {problem}.")
