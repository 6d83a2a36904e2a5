# The CRSs the APIs and exports answer in (layers/features/crs.py) must be in PostGIS's
# spatial_ref_sys before a request names one: the VN-2000 TM-3 zones (EPSG:9205-9218) are newer
# than PostGIS's table. Each is added the way an import adds a missing EPSG code
# (layers/importers/crs.py: the EPSG's definition as GDAL's PROJ gives it), once; those already
# there are left as they are. Nothing is removed going back: imports may use them too.

from django.db import migrations


def register_offered_crs(apps, schema_editor):
    from layers.importers.crs import srid_for
    from layers.features.crs import offered_srids

    for srid in offered_srids():
        srid_for(f"EPSG:{srid}")


class Migration(migrations.Migration):
    dependencies = [("layers", "0010_history_update_keeps_unchanged")]

    operations = [migrations.RunPython(register_offered_crs, migrations.RunPython.noop)]
