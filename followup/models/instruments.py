"""Questionnaires (PROM instruments) as versioned data: items, answer options, scoring.

Versioned per clinic or shared like the protocols (versioned.py): a clinic that loads a
licensed instrument's texts gets its own version; an answer keeps the version it was
asked with. The shape and the scoring are followup/rules/instruments.py.
"""

from django.core.exceptions import ValidationError
from django.db import models

from ..rules import instruments as rules
from .versioned import VersionedModel, VersionedQuerySet, clinic_field


class AssessmentField(models.TextChoices):
    """Where a score lands: an `Assessment` column, so the pain-recurrence rule reads the
    patients' own answers unchanged."""

    NONE = "", "Kept with the answers only"
    NRS_BACK = "nrs_back", "NRS back"
    NRS_LEG = "nrs_leg", "NRS leg"
    ODI = "odi", "ODI"


class InstrumentQuerySet(VersionedQuerySet):
    def in_force_for(self, clinic_id: int, codes) -> dict[str, "Instrument"]:
        """The version of each instrument a clinic asks now: its own newest, else the
        shared one's (one query)."""
        found: dict[str, Instrument] = {}
        for instrument in (
            self.filter(code__in=list(codes))
            .filter(models.Q(clinic_id=clinic_id) | models.Q(clinic__isnull=True))
            .order_by("code", models.F("clinic_id").asc(nulls_last=True), "-version")
        ):
            found.setdefault(instrument.code, instrument)
        return found


class Instrument(VersionedModel):
    line = ("code",)

    code = models.SlugField(max_length=40)
    clinic = clinic_field("instruments")
    name = models.CharField(max_length=200)
    items = models.JSONField(default=list, help_text="docs/proms.md: the items' format.")
    scoring = models.JSONField(default=dict)
    assessment_field = models.CharField(
        max_length=10, choices=AssessmentField, blank=True, default=AssessmentField.NONE
    )
    licence = models.TextField(blank=True, help_text="The instrument's terms of use.")

    objects = InstrumentQuerySet.as_manager()

    class Meta:
        ordering = ["code", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "code", "version"],
                nulls_distinct=False,
                name="instrument_unique_version",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.owner})"

    def parsed(self) -> tuple[rules.Item, ...]:
        return rules.items_of(self.items)

    def askable_in(self, language: str) -> bool:
        """Every item and option has a text in this language (a licensed instrument whose
        texts were never loaded has none)."""
        return all(item.has_text(language) for item in self.parsed())

    def score(self, answers: dict[str, int]) -> int | None:
        return rules.score(self.parsed(), self.scoring, answers)

    def clean(self) -> None:
        try:
            rules.check_scoring(self.scoring, self.parsed())
        except rules.InvalidDefinition as error:
            raise ValidationError({"items": str(error)}) from None
