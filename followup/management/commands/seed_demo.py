"""A small synthetic demo clinic: invented people, realistic follow-up histories."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from followup.models import DicomSource, Subscription
from imaging.models import Finding, ImagingExam
from patients.models import ApiClient, Clinic, Membership, Patient, Role, Surgery

DEMO_USERNAME = "demo"

# (mrn, family, given, procedure, levels, hardware, days since surgery, variant, exams)
# exams: (days after surgery, modality, contrast, findings as (code, value, level, side))
PATIENTS = [
    (
        "D-1001",
        "Martin",
        "Alice",
        "tlif",
        ["L4-L5"],
        ["pedicle_screws", "rods", "interbody_cage"],
        400,
        "",
        [
            (20, "XR", "none", [("spacer_posterior_distance_mm", 4.0, "L4-L5", "")]),
            (180, "XR", "none", [("bridging", "partial", "L4-L5", "")]),
            (370, "CT", "none", [("bridging", "complete", "L4-L5", "")]),
        ],
    ),
    (
        "D-1002",
        "Bernard",
        "Louis",
        "plif",
        ["L5-S1"],
        ["pedicle_screws", "rods", "interbody_cage"],
        420,
        "L6 lumbarisation; counted from C2",
        [
            (15, "XR", "none", [("spacer_posterior_distance_mm", 3.0, "L5-S1", "")]),
            (
                390,
                "CT",
                "none",
                [
                    ("bridging", "none", "L5-S1", ""),
                    ("vacuum_disc", True, "L5-S1", ""),
                    ("screw_lucency_mm", 2.6, "S1", "left"),
                    ("periscrew_margin", "sclerotic_rim", "S1", "left"),
                ],
            ),
        ],
    ),
    (
        "D-1003",
        "Petit",
        "Chloé",
        "posterolateral_fusion",
        ["L3-L4", "L4-L5"],
        ["pedicle_screws", "rods"],
        75,
        "",
        [(30, "XR", "none", [])],
    ),
    (
        "D-1004",
        "Durand",
        "Hugo",
        "discectomy",
        ["L5-S1"],
        [],
        120,
        "",
        [
            (
                100,
                "MR",
                "gadolinium",
                [
                    ("disc_herniation", "similar_to_preop", "L5-S1", "left"),
                    ("root_enhancement", True, "L5-S1", "left"),
                ],
            )
        ],
    ),
    ("D-1005", "Leroy", "Emma", "decompression", ["L3-L4"], [], 20, "", []),
    (
        "D-1006",
        "Moreau",
        "Jules",
        "xlif",
        ["L2-L3"],
        ["interbody_cage", "plate"],
        200,
        "",
        [
            (
                180,
                "CT",
                "none",
                [
                    ("screw_lucency_mm", 3.5, "L3", "right"),
                    ("periscrew_margin", "ill_defined", "L3", "right"),
                ],
            )
        ],
    ),
    ("D-1007", "Simon", "Léa", "kyphoplasty", ["T12"], [], 60, "", []),
    (
        "D-1008",
        "Laurent",
        "Noah",
        "alif",
        ["L5-S1"],
        ["interbody_cage"],
        800,
        "",
        [
            (10, "XR", "none", [("spacer_posterior_distance_mm", 5.0, "L5-S1", "")]),
            (730, "XR", "none", [("spacer_posterior_distance_mm", 1.5, "L5-S1", "")]),
        ],
    ),
]


def demo_password() -> str:
    """Made once and kept under var/, so every run prints the same login."""
    path = settings.VAR_DIR / "demo_password"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Load a small synthetic demo clinic (no real patient data); safe to run again."

    @transaction.atomic
    def handle(self, **options):
        clinic, _ = Clinic.objects.get_or_create(
            slug="demo", defaults={"name": "Demo Spine Clinic", "timezone": "Europe/Paris"}
        )
        password = demo_password()
        user, _ = get_user_model().objects.get_or_create(
            username=DEMO_USERNAME, defaults={"is_staff": True, "email": "demo@localhost"}
        )
        user.is_staff = True
        user.set_password(password)
        user.save()
        Membership.objects.get_or_create(user=user, clinic=clinic, defaults={"role": Role.MANAGER})
        # Digests and urgent notices go to the local mail catcher of `make run` (Procfile).
        Subscription.objects.get_or_create(user=user, clinic=clinic)
        # dcmtk's storescu calls as STORESCU unless told otherwise: `make run`'s listener takes
        # a demo patient's study from it as it is (docs/operations.md, "Hospital feeds:
        # DICOM").
        DicomSource.objects.get_or_create(
            ae_title="STORESCU", defaults={"clinic": clinic, "name": "dcmtk storescu (demo)"}
        )
        now = timezone.now()
        for row in PATIENTS:
            self._patient(clinic, now, *row)
        self._report(clinic, password)

    def _patient(self, clinic, now, mrn, family, given, procedure, levels, hardware, days,
                 variant, exams) -> None:  # fmt: skip
        patient, created = Patient.objects.get_or_create(
            clinic=clinic,
            mrn=mrn,
            # Synthetic addresses: the questionnaire invitations land in `make run`'s mail
            # catcher (docs/proms.md), whose beat sends them when a PROM window is open.
            defaults={
                "family_name": family,
                "given_name": given,
                "transitional_variant": variant,
                "email": f"{mrn.lower()}@patients.demo.invalid",
                "prom_consent": True,
            },
        )
        if not created:
            return
        surgery = Surgery.objects.create(
            patient=patient,
            performed_at=now - timedelta(days=days),
            procedure=procedure,
            levels=levels,
            hardware=hardware,
            surgeon="Dr Demo",
        )
        for number, (after, modality, contrast, findings) in enumerate(exams, start=1):
            exam = ImagingExam.objects.create(
                patient=patient,
                surgery=surgery,
                modality=modality,
                contrast=contrast,
                performed_at=surgery.performed_at + timedelta(days=after),
                accession_number=f"{mrn}-{number}",
            )
            Finding.objects.bulk_create(
                Finding(exam=exam, code=code, value=value, level=level, side=side)
                for code, value, level, side in findings
            )

    def _report(self, clinic, password) -> None:
        self.stdout.write(f"Demo clinic '{clinic.slug}' ready: {clinic.patients.count()} patients.")
        if not ApiClient.objects.filter(clinic=clinic, name="demo-ehr").exists():
            _, token = ApiClient.issue(clinic, "demo-ehr")
            self.stdout.write(f"Demo API token (shown once): {token}")
        self.stdout.write(f"Admin: {settings.SITE_URL}/admin/")
        self.stdout.write(f"Login: {DEMO_USERNAME} / {password}")
