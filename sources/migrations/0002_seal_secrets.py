"""Seal the passwords and tokens stored before sealing (sources/sealing.py); back: unseal them."""

from django.db import migrations


def seal_stored(apps, schema_editor):
    from sources.sealing import reseal

    LayerSource = apps.get_model("sources", "LayerSource")
    for source in LayerSource.objects.exclude(secret="").only("pk", "secret"):
        LayerSource.objects.filter(pk=source.pk).update(secret=reseal(source.secret))


def unseal_stored(apps, schema_editor):
    from sources.sealing import unseal

    LayerSource = apps.get_model("sources", "LayerSource")
    for source in LayerSource.objects.exclude(secret="").only("pk", "secret"):
        LayerSource.objects.filter(pk=source.pk).update(secret=unseal(source.secret))


class Migration(migrations.Migration):
    dependencies = [("sources", "0001_initial")]

    operations = [migrations.RunPython(seal_stored, unseal_stored)]
