from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("agent", "0006_turn_diagnosis"),
    ]

    operations = [
        migrations.AddField(
            model_name="turn",
            name="described_tables",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
