from django.db import migrations, models


class Migration(migrations.Migration):
    """Every order so far was placed in US dollars (``OrderPlaced`` version 1)."""

    dependencies = [
        ("orders_read", "0003_dashboard_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="ordersummary",
            name="currency",
            field=models.CharField(default="USD", max_length=3),
            preserve_default=False,
        ),
    ]
