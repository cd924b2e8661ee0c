"""Clinical numbers kept as versions, per clinic or shared: the base of protocols and
thresholds.

A row belongs to one clinic, or to nobody (the shared default every clinic starts
from). It is never changed once used: saving it again (the admin) saves a new version,
numbered after the newest of its line, and new work gets the newest version in force; a
surgery keeps the version it was planned with until staff re-plan it.
"""

from django.db import models


def clinic_field(related_name: str) -> models.ForeignKey:
    """The clinic a version belongs to; empty for the shared default. (Declared by each
    model: its reverse name is the model's own.)"""
    return models.ForeignKey(
        "patients.Clinic",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name=related_name,
        help_text="Empty: the default every clinic starts from.",
    )


class VersionedQuerySet(models.QuerySet):
    def in_force(self, clinic_id: int | None, **line) -> "VersionedModel | None":
        """The version a clinic's new work gets: its own newest, else the shared default's
        newest; `line` narrows it (a protocol's family)."""
        return (
            self.filter(**line)
            .filter(models.Q(clinic_id=clinic_id) | models.Q(clinic__isnull=True))
            .order_by(models.F("clinic_id").asc(nulls_last=True), "-version")
            .first()
        )

    def in_force_of(self, clinic_ids) -> "dict[int, VersionedModel | None]":
        """`in_force` for each of these clinics, in one query (a line of its own: no
        `line` here)."""
        newest: dict = {}
        for version in self.visible_to(clinic_ids).order_by("clinic_id", "-version"):
            newest.setdefault(version.clinic_id, version)
        return {clinic_id: newest.get(clinic_id, newest.get(None)) for clinic_id in clinic_ids}

    def visible_to(self, clinic_ids) -> "VersionedQuerySet":
        """The shared versions and those of these clinics."""
        return self.filter(models.Q(clinic__isnull=True) | models.Q(clinic__in=clinic_ids))


class VersionedModel(models.Model):
    """A clinic's (or the shared) version of some clinical numbers.

    A subclass declares `clinic = clinic_field(...)`, its unique constraint on its line
    and `version`, and `line`: the fields besides the clinic that make one line of
    versions (a protocol's family)."""

    line: tuple[str, ...] = ()

    version = models.PositiveIntegerField(editable=False)
    notes = models.TextField(blank=True, help_text="What changed in this version, and why.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.version is None:
            mine = {name: getattr(self, name) for name in self.line}
            versions = type(self)._default_manager.filter(clinic_id=self.clinic_id, **mine)
            latest = versions.aggregate(models.Max("version"))["version__max"]
            self.version = (latest or 0) + 1
        super().save(*args, **kwargs)

    @property
    def owner(self) -> str:
        return self.clinic.slug if self.clinic_id else "default"

    def as_new_version(self, by) -> None:
        """Saved next, this is a new version of its line (numbered then), by `by`."""
        self.pk = None
        self.version = None
        self.created_by = by
