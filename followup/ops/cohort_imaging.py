"""The imaging half of a synthetic cohort (cohort.py): the films and MRIs a surgery's
follow-up got, on time, late or missed, and what they showed."""

from datetime import datetime, timedelta

from followup.models import Checkpoint, CheckpointKind
from imaging.models import Finding, ImagingExam
from patients.models import ProcedureFamily, Surgery


class ImagingHistory:
    """Mixed into the cohort's Generator, whose random source, rates, effects and day it uses."""

    def _exams_of(self, surgery: Surgery, checkpoints: list[Checkpoint]):
        """Protocol films on time, late or missed, plus some MRs; findings by rates."""
        rng, rates, effects = self.rng, self.rates, self.effects
        baseline_distance = round(rng.uniform(2.5, 6.0), 1)
        # Whether this fusion ever bridges, and how often its screws loosen: the surgery's,
        # not each film's.
        non_union = rates.non_union
        if effects.weak_surgeon is not None and surgery.surgeon == effects.weak_surgeon:
            non_union = effects.weak_surgeon_non_union
        surgery.united = rng.random() >= non_union
        surgery.loosening = rates.loosening
        if effects.loose_procedure is not None and surgery.procedure == effects.loose_procedure:
            surgery.loosening = effects.loose_procedure_loosening
        for checkpoint in checkpoints:
            if checkpoint.kind != CheckpointKind.EXAM:
                continue
            roll = rng.random()
            if roll < rates.on_time:
                span = (checkpoint.due_at - checkpoint.opens_at).total_seconds()
                at = checkpoint.opens_at + timedelta(seconds=rng.uniform(0.1, 0.9) * span)
            elif roll < rates.on_time + rates.late:
                at = checkpoint.due_at + timedelta(days=rng.randint(1, 60))
            else:
                continue  # missed
            if at >= self.now:
                continue  # not done yet
            modality = (
                "XR" if checkpoint.code == "baseline_film" else rng.choice(["XR", "XR", "CT"])
            )
            exam = self._exam(surgery, at, modality)
            day = (at - surgery.performed_at).days
            yield exam, self._film_findings(surgery, day, baseline_distance), checkpoint
        # Exams outside the protocol: symptoms, other questions, MR for disc surgery.
        for _ in range(rng.choices([2, 3, 4, 5, 6], weights=[10, 20, 30, 25, 15])[0]):
            at = surgery.performed_at + timedelta(days=rng.randint(3, 900), hours=rng.randint(0, 9))
            if at >= self.now:
                continue
            modality = rng.choices(["MR", "XR", "CT"], weights=[50, 30, 20])[0]
            contrast = (
                "gadolinium" if modality == "MR" and rng.random() < rates.extra_mr else "none"
            )
            day = (at - surgery.performed_at).days
            findings = (
                self._mr_findings(surgery, day)
                if modality == "MR"
                else self._film_findings(surgery, day, baseline_distance)
            )
            yield self._exam(surgery, at, modality, contrast), findings, None

    def _mr_findings(self, surgery: Surgery, day: int) -> list[Finding]:
        # A disc finding takes a disc level; a vertebroplasty's level is a vertebra.
        rng, level = self.rng, surgery.levels[0] if "-" in surgery.levels[0] else ""
        herniation = rng.choices(
            ["none", "similar_to_preop", "different_from_preop"], weights=[80, 12, 8]
        )[0]
        return [
            Finding(code="disc_herniation", value=herniation, level=level),
            Finding(code="root_enhancement", value=rng.random() < 0.2, level=level),
        ]

    def _exam(self, surgery: Surgery, at: datetime, modality: str, contrast="none") -> ImagingExam:
        number = self.rng.getrandbits(48)
        return ImagingExam(
            clinic_id=surgery.clinic_id, patient_id=surgery.patient_id, surgery=surgery,
            modality=modality, contrast=contrast, performed_at=at,
            accession_number=f"A{self.seed}-{number:012x}",
            effective_dose_msv=round(self.rng.uniform(0.1, 1.5), 3) if modality != "MR" else None,
        )  # fmt: skip

    def _film_findings(self, surgery: Surgery, day: int, baseline_distance: float) -> list[Finding]:
        if surgery.family != ProcedureFamily.FUSION:
            return []
        rng, rates, level = self.rng, self.rates, surgery.levels[0]
        lucency = round(rng.uniform(2.1, 4.0) if rng.random() < surgery.loosening
                        else rng.uniform(0, 1.5), 1)  # fmt: skip
        found = [
            Finding(code="screw_lucency_mm", value=lucency, level=level.split("-")[1], side="left"),
            Finding(code="spacer_posterior_distance_mm", level=level, value=(
                round(baseline_distance - rng.uniform(2.5, 4), 1)
                if day > 200 and rng.random() < rates.migration else baseline_distance
            )),
        ]  # fmt: skip
        if day >= 90:
            bridged = "none" if not surgery.united else (
                "partial" if day < 300 else "complete"
            )  # fmt: skip
            found.append(Finding(code="bridging", value=bridged, level=level))
        return found
