"""factory_boy factories for the models."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point

from layers.models import Category, Feature, Layer


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("secret-pass-123")


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    slug = factory.Sequence(lambda n: f"category-{n}")
    name_vi = factory.Sequence(lambda n: f"Chủ đề {n}")
    name_en = factory.Sequence(lambda n: f"Theme {n}")


class LayerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Layer

    slug = factory.Sequence(lambda n: f"layer-{n}")
    title_vi = factory.Sequence(lambda n: f"Lớp {n}")
    title_en = factory.Sequence(lambda n: f"Layer {n}")
    category = factory.SubFactory(CategoryFactory)
    status = "ready"
    visibility = "public"
    name_field = "ten"
    attribute_schema = factory.LazyFunction(lambda: [{"name": "ten", "type": "text"}])


class FeatureFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Feature

    layer = factory.SubFactory(LayerFactory)
    geom = factory.LazyFunction(lambda: Point(107.5905, 16.4637, srid=4326))
    name = "Đại Nội"
    attributes = factory.LazyFunction(lambda: {"ten": "Đại Nội"})
