"""PostgreSQL: leave half of each archive_warcfile page free, so that ``verify`` recording
``last_verified_at``/``last_verified_ok`` (columns no index covers) updates rows in place (HOT
updates: no new entry in the table's five indexes). With full pages every row's new version went to
another page with an entry in every index: ~40-70 µs a row, more than hashing a small WARC file.
Pages written before this keep their layout until their rows are next updated. No-op elsewhere."""

from django.db import migrations

FILLFACTOR = 50


def set_fillfactor(apps, schema_editor, value=FILLFACTOR):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("archive", "WarcFile")._meta.db_table)
    schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {value})" if value
                          else f"ALTER TABLE {table} RESET (fillfactor)")


def reset_fillfactor(apps, schema_editor):
    set_fillfactor(apps, schema_editor, value=None)


class Migration(migrations.Migration):

    dependencies = [
        ("archive", "0009_storage_withdrawn_surt_index"),
    ]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
