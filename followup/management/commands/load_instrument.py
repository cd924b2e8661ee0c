"""Load a licensed instrument's item texts (the ODI's) from the clinic's own file.

    python manage.py load_instrument odi-texts.json [--clinic SLUG]

The file gives the texts only (format: docs/proms.md); the items, option values and
scoring stay the shipped ones, so a file can never change a score. Saved as a new
version of the instrument, the clinic's own (or the shared one without --clinic):
answers already given keep the version they were asked with. The texts are never
committed to the project: they are the clinic's, under its licence.
"""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from followup.models import Instrument
from followup.rules.instruments import InvalidDefinition, with_texts
from patients.models import Clinic


class Command(BaseCommand):
    help = "Load a licensed instrument's item texts from a JSON file (docs/proms.md)."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--clinic", help="The clinic's slug; shared by all without it.")

    @transaction.atomic
    def handle(self, *args, path: Path, clinic: str | None, **options):
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from None
        if not isinstance(loaded, dict) or not isinstance(loaded.get("items"), list):
            raise CommandError('The file is a JSON object with "code" and "items".')
        owner = None
        if clinic:
            owner = Clinic.objects.filter(slug=clinic).first()
            if owner is None:
                raise CommandError(f"No clinic {clinic!r}.")
        code = loaded.get("code", "")
        current = Instrument.objects.in_force(owner.pk if owner else None, code=code)
        if current is None:
            raise CommandError(f"No instrument {code!r}: the file must name a shipped one.")
        try:
            items = with_texts(current.parsed(), loaded["items"])
        except InvalidDefinition as error:
            raise CommandError(str(error)) from None
        current.as_new_version(by=None)
        current.clinic = owner
        current.items = items
        current.name = loaded.get("name") or current.name
        current.licence = loaded.get("licence") or current.licence
        current.notes = f"Item texts loaded from {path.name}"
        current.full_clean()
        current.save()
        languages = sorted({lang for item in items for lang in item["text"]})
        self.stdout.write(
            f"{code} version {current.version} ({current.owner}): {len(items)} items, "
            f"languages {', '.join(languages) or 'none'}."
        )
