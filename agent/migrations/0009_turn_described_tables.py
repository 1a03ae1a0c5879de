from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agent", "0008_turn_share"),
    ]

    operations = [
        migrations.AddField(
            model_name="turn",
            name="described_tables",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
