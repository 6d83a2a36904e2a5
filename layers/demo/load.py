"""Write the demo into the database: categories, groups and layers, each layer in one transaction.

Each layer's generated data has a fingerprint, kept in `layer.metadata["demo_fingerprint"]`; a layer
whose fingerprint has not changed is left alone, so its version (and its tile cache) stays valid.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

import shapely
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.gis.geos import GEOSGeometry
from django.db import transaction

from ..models import Category, Layer
from ..services import FeatureRecord, layer_replace_features
from .builders import build
from .catalogue import Catalogue, CategorySpec, LayerSpec, catalogue_load
from .city import City
from .records import DemoFeature

# Bump to reload every demo layer after a change the data itself does not show (e.g. the loader's).
DATA_FORMAT = 1
KIND = shapely.GeometryType
GEOMETRY_KINDS = {
    "point": {KIND.POINT, KIND.MULTIPOINT},
    "line": {KIND.LINESTRING, KIND.MULTILINESTRING},
    "polygon": {KIND.POLYGON, KIND.MULTIPOLYGON},
    "mixed": set(KIND) - {KIND.MISSING},
}


class DemoDataError(ValueError):
    """A builder made data the demo must not load (empty, invalid or outside the region)."""


class LayerAction(StrEnum):
    """What loading a demo layer did to it."""

    LOADED = "loaded"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped (not a demo layer)"


@dataclass(frozen=True)
class LayerOutcome:
    """What loading one demo layer did, to how many features, in how long."""

    slug: str
    feature_count: int
    action: LayerAction
    seconds: float


def demo_load(
    *,
    catalogue: Catalogue | None = None,
    slugs: Iterable[str] | None = None,
    report: Callable[[LayerOutcome], None] | None = None,
) -> list[LayerOutcome]:
    """Upsert the demo's categories, groups and layers; rewrite only layers whose data changed."""
    catalogue = catalogue or catalogue_load()
    wanted = set(slugs) if slugs else None
    if wanted and (unknown := wanted - {spec.slug for spec in catalogue.layers}):
        raise LookupError(f"No demo layer named {', '.join(sorted(unknown))}")
    categories = {spec.slug: category_upsert(spec=spec) for spec in catalogue.categories}
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in catalogue.groups}
    city = City()
    outcomes = []
    for spec in catalogue.layers:
        if wanted and spec.slug not in wanted:
            continue
        started = time.perf_counter()
        features = with_attributes(build(spec.builder, city), spec.feature_attributes)
        check_features(spec=spec, features=features)
        action = layer_load(
            spec=spec,
            category=categories[spec.category],
            groups=[groups[name] for name in spec.groups],
            features=features,
        )
        outcome = LayerOutcome(spec.slug, len(features), action, time.perf_counter() - started)
        outcomes.append(outcome)
        if report:
            report(outcome)
    return outcomes


def demo_prune(*, catalogue: Catalogue | None = None) -> list[str]:
    """Delete the demo layers the catalogue no longer lists; return their slugs.

    Only layers loaddemo made (marked `metadata["demo"]`) are considered: nothing else is touched.
    """
    catalogue = catalogue or catalogue_load()
    stale = Layer.objects.filter(metadata__demo=True).exclude(
        slug__in=[spec.slug for spec in catalogue.layers]
    )
    slugs = []
    for layer in stale:
        slugs.append(layer.slug)
        layer.delete()
    return slugs


def category_upsert(*, spec: CategorySpec) -> Category:
    """Create or update a category by slug; save only what differs."""
    values = {
        "name_vi": spec.name_vi,
        "name_en": spec.name_en,
        "order": spec.order,
        "icon": spec.icon,
    }
    category, created = Category.objects.get_or_create(slug=spec.slug, defaults=values)
    changed = [name for name, value in values.items() if getattr(category, name) != value]
    if changed and not created:
        for name in changed:
            setattr(category, name, values[name])
        category.save(update_fields=changed)
    return category


def with_attributes(features: list[DemoFeature], attributes: dict) -> list[DemoFeature]:
    """Return the features with these attributes added to each (the catalogue's for the layer)."""
    if not attributes:
        return features
    return [DemoFeature(f.geom, {**f.attributes, **attributes}) for f in features]


def check_features(*, spec: LayerSpec, features: list[DemoFeature]) -> None:
    """Raise DemoDataError unless every feature is valid, of the layer's kind and in the region
    (the city's, unless the catalogue gives the layer its own: the provinces span Vietnam)."""
    if not features:
        raise DemoDataError(f"{spec.slug}: no features")
    geoms = [f.geom for f in features]
    region = shapely.box(*(spec.region_bbox or settings.CITY_REGION_BBOX))
    kinds = {KIND(type_id) for type_id in shapely.get_type_id(geoms)}
    allowed = GEOMETRY_KINDS[spec.fields["geometry_type"]]
    problems = [
        not shapely.is_valid(geoms).all() and "an invalid geometry",
        shapely.is_empty(geoms).any() and "an empty geometry",
        not shapely.covered_by(geoms, region).all() and "a geometry outside the region",
        not kinds <= allowed and "a geometry of the wrong kind",
    ]
    for problem in filter(None, problems):
        raise DemoDataError(f"{spec.slug}: {problem}")


def demo_fingerprint(*, spec: LayerSpec, features: list[DemoFeature]) -> str:
    """Return a digest of everything a layer's features are made of."""
    digest = hashlib.sha256()
    digest.update(json.dumps([DATA_FORMAT, spec.name_field]).encode())
    for wkb, feature in zip(shapely.to_wkb([f.geom for f in features]), features, strict=True):
        digest.update(wkb)
        digest.update(json.dumps(feature.attributes, sort_keys=True, ensure_ascii=False).encode())
    return digest.hexdigest()


@transaction.atomic
def layer_load(
    *, spec: LayerSpec, category: Category, groups: list[Group], features: list[DemoFeature]
) -> LayerAction:
    """Upsert one demo layer by slug and replace its data if it changed; return what was done."""
    layer = Layer.objects.select_for_update().filter(slug=spec.slug).first()
    if layer is not None and not layer.metadata.get("demo"):
        # Someone made a layer of this slug by hand: it is theirs, not the demo's to overwrite.
        return LayerAction.SKIPPED
    layer = layer or Layer(slug=spec.slug, metadata={"demo": True, **spec.metadata})
    values = {**spec.fields, "category_id": category.pk}
    if any(layer.metadata.get(key) != value for key, value in spec.metadata.items()):
        values["metadata"] = {**layer.metadata, **spec.metadata}
    changed = [name for name, value in values.items() if getattr(layer, name) != value]
    for name in changed:
        setattr(layer, name, values[name])
    fingerprint = demo_fingerprint(spec=spec, features=features)
    unchanged = (
        layer.pk is not None
        and layer.metadata.get("demo_fingerprint") == fingerprint
        and layer.feature_count == len(features)
    )
    if layer.pk is None:
        layer.save()
    elif changed:
        layer.save(update_fields=[*changed, "updated_at"])
    if set(layer.groups.all()) != set(groups):
        layer.groups.set(groups)
    if unchanged:
        if layer.status != Layer.Status.READY:
            layer.status = Layer.Status.READY
            layer.save(update_fields=["status", "updated_at"])
        return LayerAction.UNCHANGED
    layer_replace_features(layer=layer, records=_records(features))
    layer.metadata = {**layer.metadata, "demo": True, "demo_fingerprint": fingerprint}
    layer.status = Layer.Status.READY
    layer.save(update_fields=["metadata", "status", "updated_at"])
    return LayerAction.LOADED


def _records(features: list[DemoFeature]) -> Iterable[FeatureRecord]:
    wkbs = shapely.to_wkb([f.geom for f in features])
    for wkb, feature in zip(wkbs, features, strict=True):
        yield FeatureRecord(
            geom=GEOSGeometry(memoryview(wkb), srid=4326), attributes=feature.attributes
        )
