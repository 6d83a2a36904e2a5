"""`manage.py importlayer`: the same import from the command line, with a progress bar."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from layers.models import Feature, Layer

from .conftest import DATA, snapshot

pytestmark = pytest.mark.django_db


def test_import_into_an_existing_layer(layer, tmp_path):
    path = tmp_path / "diem.csv"
    path.write_text("ten;kinh_do;vi_do\nCầu Trường Tiền;107.5897;16.4683\n", encoding="utf-8")
    out = io.StringIO()
    call_command("importlayer", str(path), layer=layer.slug, mode="replace", stdout=out)
    output = out.getvalue()
    assert "[" in output and "100%" in output
    assert "1 imported" in output
    assert list(Feature.objects.filter(layer=layer).values_list("name", flat=True)) == [
        "Cầu Trường Tiền"
    ]


def test_a_new_layer_is_created(category):
    out = io.StringIO()
    call_command(
        "importlayer", str(DATA / "coutwildrnp.zip"), layer="wilderness", title="Wilderness",
        category=category.slug, stdout=out,
    )  # fmt: skip
    layer = Layer.objects.get(slug="wilderness")
    assert (layer.feature_count, layer.status, layer.title_vi) == (67, "ready", "Wilderness")


def test_a_failed_import_is_an_error_and_changes_nothing(layer, tmp_path):
    path = tmp_path / "diem.csv"
    path.write_text("ten,dia_chi\nĐại Nội,Huế\n", encoding="utf-8")
    before = snapshot(layer)
    with pytest.raises(CommandError, match="failed"):
        call_command("importlayer", str(path), layer=layer.slug, stdout=io.StringIO())
    assert snapshot(layer) == before


def test_bad_options(layer):
    with pytest.raises(CommandError, match="--srid"):
        call_command("importlayer", str(DATA / "test_gpx.gpx"), layer=layer.slug, srid="x")
    with pytest.raises(CommandError, match="exists"):
        call_command("importlayer", str(DATA / "test_gpx.gpx"), layer=layer.slug, mode="create")
