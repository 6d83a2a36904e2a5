# Editing and history (issue 13): who may edit a layer, a version per feature, and every past
# version of every feature.
#
# - `layers_changeevent`: one row per change (an edit, an import, a sync…), who, when, how.
# - `layers_feature.version` and `.event_id`: the feature's version (the ETag of optimistic
#   locking) and the event that wrote it. `version` is added with a constant default, so no
#   partition is rewritten.
# - `layers_featureversion`: past versions. Triggers on layers_feature copy the old row on each
#   change of geometry or attributes and on each delete, so every write path (ORM, admin, raw
#   SQL) is recorded; a write no service announced gets an event of channel `database`. A
#   replacing import copies nothing: the layer's old partition becomes a child of this table
#   (inheritance, layers/partitions.py), so a million replaced rows cost a rename, not a copy.
# - The event of the current transaction is `mapserver.event_<layer id>` (set_config, local to
#   the transaction): services set it (layers/services.py); the trigger makes one when none is.

import django.contrib.gis.db.models.fields
import django.db.models.deletion
import django.db.models.functions.datetime
from django.conf import settings
from django.db import migrations, models


HISTORY_FORWARD = """
CREATE TABLE layers_featureversion (LIKE layers_feature INCLUDING GENERATED);
ALTER TABLE layers_featureversion
    ADD COLUMN valid_to timestamp with time zone NOT NULL,
    ADD COLUMN ended_by bigint;
CREATE INDEX layers_featureversion_feature ON layers_featureversion (layer_id, id, version);
CREATE INDEX layers_featureversion_ended ON layers_featureversion (layer_id, valid_to);
CREATE INDEX layers_featureversion_geom3857 ON layers_featureversion USING gist (geom_3857);

CREATE OR REPLACE FUNCTION layers_change_event(layer bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    setting text := 'mapserver.event_' || layer;
    event bigint := NULLIF(current_setting(setting, true), '')::bigint;
BEGIN
    IF event IS NULL THEN
        INSERT INTO layers_changeevent (layer_id, feature_id, action, channel, at, counts, note)
        VALUES (layer, NULL, 'edit', 'database', now(), '{}'::jsonb,
                'Written in the database directly, not through the application.')
        RETURNING id INTO event;
        PERFORM set_config(setting, event::text, true);
    END IF;
    RETURN event;
END;
$$;

CREATE OR REPLACE FUNCTION layers_feature_history_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id IS NULL THEN
        NEW.event_id := layers_change_event(NEW.layer_id);
    END IF;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION layers_feature_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event bigint;
BEGIN
    -- A derived column only (the name, when the naming field changes): no new version.
    IF NEW.geom IS NOT DISTINCT FROM OLD.geom
       AND NEW.attributes IS NOT DISTINCT FROM OLD.attributes THEN
        RETURN NEW;
    END IF;
    event := layers_change_event(OLD.layer_id);
    INSERT INTO layers_featureversion
        (id, layer_id, geom, attributes, name, created_at, updated_at, version, event_id,
         valid_to, ended_by)
    VALUES (OLD.id, OLD.layer_id, OLD.geom, OLD.attributes, OLD.name, OLD.created_at,
            OLD.updated_at, OLD.version, OLD.event_id, now(), event);
    NEW.version := OLD.version + 1;
    NEW.updated_at := now();
    NEW.event_id := event;
    RETURN NEW;
END;
$$;

CREATE OR REPLACE FUNCTION layers_feature_history_delete() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO layers_featureversion
        (id, layer_id, geom, attributes, name, created_at, updated_at, version, event_id,
         valid_to, ended_by)
    VALUES (OLD.id, OLD.layer_id, OLD.geom, OLD.attributes, OLD.name, OLD.created_at,
            OLD.updated_at, OLD.version, OLD.event_id, now(), layers_change_event(OLD.layer_id));
    RETURN NULL;
END;
$$;

CREATE TRIGGER layers_feature_history_insert BEFORE INSERT ON layers_feature
    FOR EACH ROW EXECUTE FUNCTION layers_feature_history_insert();
CREATE TRIGGER layers_feature_history_update BEFORE UPDATE ON layers_feature
    FOR EACH ROW EXECUTE FUNCTION layers_feature_history_update();
CREATE TRIGGER layers_feature_history_delete AFTER DELETE ON layers_feature
    FOR EACH ROW EXECUTE FUNCTION layers_feature_history_delete();

-- A deleted layer takes its history with it: the rows of single edits and the archived
-- partitions of replaced imports (layers_featureversion_p<layer>_e<event>).
CREATE OR REPLACE FUNCTION layers_layer_partition_drop() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    archive text;
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', layers_feature_partition_name(OLD.id));
    FOR archive IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'layers_featureversion'::regclass
          AND c.relname LIKE 'layers_featureversion\\_p' || OLD.id || '\\_e%'
    LOOP
        EXECUTE format('DROP TABLE %I', archive);
    END LOOP;
    DELETE FROM ONLY layers_featureversion WHERE layer_id = OLD.id;
    RETURN OLD;
END;
$$;
"""

HISTORY_BACKWARD = """
DROP TRIGGER layers_feature_history_insert ON layers_feature;
DROP TRIGGER layers_feature_history_update ON layers_feature;
DROP TRIGGER layers_feature_history_delete ON layers_feature;
DROP FUNCTION layers_feature_history_insert(), layers_feature_history_update(),
    layers_feature_history_delete(), layers_change_event(bigint);
DROP TABLE layers_featureversion CASCADE;
CREATE OR REPLACE FUNCTION layers_layer_partition_drop() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DROP TABLE IF EXISTS %I', layers_feature_partition_name(OLD.id));
    RETURN OLD;
END;
$$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('auth', '0012_alter_user_first_name_max_length'),
        ('layers', '0007_feature_partitions'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='FeatureVersion',
            fields=[
                ('pk', models.CompositePrimaryKey('layer_id', 'feature_id', 'version', blank=True, editable=False, primary_key=True, serialize=False)),
                ('feature_id', models.BigIntegerField(db_column='id', verbose_name='feature')),
                ('layer_id', models.BigIntegerField(verbose_name='layer')),
                ('geom', django.contrib.gis.db.models.fields.GeometryField(spatial_index=False, srid=4326, verbose_name='geometry')),
                ('attributes', models.JSONField(default=dict, verbose_name='attributes')),
                ('name', models.TextField(blank=True, default='', verbose_name='name')),
                ('created_at', models.DateTimeField(verbose_name='created')),
                ('valid_from', models.DateTimeField(db_column='updated_at', verbose_name='valid from')),
                ('valid_to', models.DateTimeField(verbose_name='valid until')),
                ('version', models.PositiveIntegerField(verbose_name='version')),
                ('event_id', models.BigIntegerField(null=True, verbose_name='written by change')),
                ('ended_by', models.BigIntegerField(null=True, verbose_name='ended by change')),
            ],
            options={
                'verbose_name': 'feature version',
                'verbose_name_plural': 'feature versions',
                'db_table': 'layers_featureversion',
                'ordering': ['-valid_to'],
                'managed': False,
            },
        ),
        migrations.AddField(
            model_name='feature',
            name='event_id',
            field=models.BigIntegerField(blank=True, null=True, verbose_name='change'),
        ),
        migrations.AddField(
            model_name='feature',
            name='version',
            field=models.IntegerField(db_default=1, default=1, verbose_name='version'),
        ),
        migrations.AddField(
            model_name='layer',
            name='editor_groups',
            field=models.ManyToManyField(blank=True, help_text="Whose members may edit the layer's features (besides GIS staff), if they may see it.", related_name='editable_layers', to='auth.group', verbose_name='editor groups'),
        ),
        migrations.CreateModel(
            name='ChangeEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('feature_id', models.BigIntegerField(blank=True, null=True, verbose_name='feature')),
                ('action', models.CharField(choices=[('create', 'Created'), ('update', 'Changed'), ('delete', 'Deleted'), ('restore', 'Restored'), ('import', 'Imported'), ('sync', 'Synchronised'), ('attach', 'File attached'), ('detach', 'File removed'), ('edit', 'Changed in the database')], max_length=16, verbose_name='action')),
                ('channel', models.CharField(choices=[('map', 'Web map'), ('api', 'REST API'), ('ogc', 'OGC API'), ('admin', 'Admin'), ('import', 'Import'), ('sync', 'Sync'), ('database', 'Database (SQL)')], max_length=16, verbose_name='through')),
                ('at', models.DateTimeField(db_default=django.db.models.functions.datetime.Now(), verbose_name='at')),
                ('counts', models.JSONField(blank=True, default=dict, help_text='For imports: added, removed.', verbose_name='counts')),
                ('note', models.TextField(blank=True, verbose_name='note')),
                ('job', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='layers.importjob', verbose_name='import')),
                ('layer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='layers.layer', verbose_name='layer')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='by')),
            ],
            options={
                'verbose_name': 'change',
                'verbose_name_plural': 'changes',
                'ordering': ['-at', '-id'],
                'indexes': [models.Index(fields=['layer', '-at'], name='changeevent_layer_at'), models.Index(fields=['layer', 'feature_id'], name='changeevent_layer_feature')],
                'constraints': [models.CheckConstraint(condition=models.Q(('action__in', ['create', 'update', 'delete', 'restore', 'import', 'sync', 'attach', 'detach', 'edit'])), name='changeevent_action_valid'), models.CheckConstraint(condition=models.Q(('channel__in', ['map', 'api', 'ogc', 'admin', 'import', 'sync', 'database'])), name='changeevent_channel_valid')],
            },
        ),
        migrations.RunSQL(HISTORY_FORWARD, HISTORY_BACKWARD),
    ]
