"""One fusion patient's follow-up with every kind of entry the picture draws.

At NOW (day 200) the fusion's windows are satisfied, open and upcoming, its work-ups
overdue and waived, both day-183 milestones have passed, a CT shows a screw in the
canal (an urgent alert), and back pain was scored twice (a third score is leg only).
The patient also had an earlier discectomy with its own film, which must stay out of
the fusion's picture.
"""

from dataclasses import dataclass
from datetime import timedelta

import time_machine

from followup.models import Checkpoint
from followup.pipeline import refresh, sweep, waivers
from imaging.models import ImagingExam
from patients.models import Assessment, ClinicalEvent, Patient, Surgery
from tests import factories
from tests.followup.conftest import local

DAY0 = local("Europe/Paris", 2026, 1, 5, 9, 0)
NOW = DAY0 + timedelta(days=200)
SCREW_IN_CANAL = {"code": "screw_in_canal", "value": True, "level": "L5", "side": "left"}


@dataclass
class Story:
    patient: Patient
    fusion: Surgery
    discectomy: Surgery


def day(n: float):
    return DAY0 + timedelta(days=n)


def fusion_story(clinic, variant: str = "", waived_by=None) -> Story:
    """Built with the clock at each step's time, so created_at values are plausible."""
    patient = factories.patient(clinic, transitional_variant=variant)
    discectomy = factories.surgery(
        patient, day(-400), procedure="discectomy", levels=["L5-S1"], hardware=[]
    )
    factories.exam(patient, discectomy, modality="XR", performed_at=day(-390))
    fusion = factories.surgery(patient, DAY0, procedure="tlif")
    refresh.refresh(discectomy.pk, DAY0)
    refresh.refresh(fusion.pk, DAY0)
    factories.exam(
        patient, fusion, modality="XR", performed_at=day(7),
        findings=[{"code": "bridging", "value": "none", "level": "L4-L5"}],
    )  # fmt: skip
    factories.exam(patient, fusion, modality="CT", performed_at=day(60), findings=[SCREW_IN_CANAL])
    factories.exam(patient, fusion, modality="MR", performed_at=day(120))
    for at, scores in ((30, {"nrs_back": 6}), (90, {"nrs_back": 3}), (120, {"nrs_leg": 5})):
        Assessment.objects.create(patient=patient, surgery=fusion, assessed_at=day(at), **scores)
    ClinicalEvent.objects.create(
        patient=patient, surgery=fusion, code="cauda_equina", occurred_at=day(150)
    )
    radicular = ClinicalEvent.objects.create(
        patient=patient, surgery=fusion, code="new_radicular_pain", occurred_at=day(199)
    )
    with time_machine.travel(day(60), tick=False):
        refresh.refresh(fusion.pk, day(60))  # the urgent alert is raised on the CT's day
    with time_machine.travel(NOW, tick=False):
        refresh.refresh(fusion.pk, NOW)
        sweep.run(NOW)
        workup = Checkpoint.objects.get(event=radicular)
        waivers.waive(workup, "Seen in clinic, no deficit", waived_by, NOW)
    return Story(patient, fusion, discectomy)


def exams_of(surgery: Surgery):
    return ImagingExam.objects.filter(surgery=surgery)
