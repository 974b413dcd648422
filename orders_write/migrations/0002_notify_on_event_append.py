"""PostgreSQL only: NOTIFY orders_events when events are appended (delivered at COMMIT).

`catch_up_projections --follow` LISTENs on this channel, so it wakes as soon as
events commit instead of polling. SQLite has no LISTEN/NOTIFY; the follower polls.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION orders_write_notify_event() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('orders_events', '');
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER orders_write_event_notify
    AFTER INSERT ON orders_write_event
    FOR EACH STATEMENT EXECUTE FUNCTION orders_write_notify_event();
"""

DROP = """
DROP TRIGGER IF EXISTS orders_write_event_notify ON orders_write_event;
DROP FUNCTION IF EXISTS orders_write_notify_event();
"""


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("orders_write", "0001_initial")]

    operations = [migrations.RunPython(create_trigger, drop_trigger)]
