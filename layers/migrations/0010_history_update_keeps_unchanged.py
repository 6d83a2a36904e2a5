# A save that changes neither geometry nor attributes (a renamed feature, or a plain save of the
# same values) made no new version but stamped updated_at with now(): the current row then
# looked younger than it is, and `as_of` between its real start and the save lost it. The
# no-change branch now keeps the columns the history owns (updated_at, version, event_id) as
# they were.

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION layers_feature_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event bigint;
BEGIN
    IF NEW.geom IS NOT DISTINCT FROM OLD.geom
       AND NEW.attributes IS NOT DISTINCT FROM OLD.attributes THEN
        NEW.updated_at := OLD.updated_at;
        NEW.version := OLD.version;
        NEW.event_id := OLD.event_id;
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
"""

BACKWARD = """
CREATE OR REPLACE FUNCTION layers_feature_history_update() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    event bigint;
BEGIN
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
"""


class Migration(migrations.Migration):
    dependencies = [("layers", "0009_feature_attachments")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
