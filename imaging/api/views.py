"""The exams endpoint: exams and findings, one by one or in bulk."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema

from patients.base.api.bulk import BulkLookup, BulkMixin
from patients.base.api.scoping import writable_clinic_ids
from patients.base.api.viewsets import ReadWriteViewSet

from ..models import Finding, ImagingExam
from ..signals import exams_written_in_bulk
from .filters import ExamFilter
from .serializers import ExamSerializer

# What a bulk update rewrites on an existing exam (clinic and patient never move).
UPDATABLE = ["surgery", "modality", "contrast", "performed_at", "views", "accession_number",
             "study_instance_uid", "effective_dose_msv", "report", "updated_at"]  # fmt: skip


class ExamViewSet(BulkMixin, ReadWriteViewSet):
    """Imaging exams with their findings; the same accession number (or Study Instance
    UID) for the same patient updates the exam instead of creating a second."""

    queryset = ImagingExam.objects.prefetch_related("findings")
    serializer_class = ExamSerializer
    filterset_class = ExamFilter

    @extend_schema(
        responses={
            201: ExamSerializer,
            200: OpenApiResponse(ExamSerializer, description="Updated: same accession number."),
        }
    )
    def create(self, request, *args, **kwargs):
        """Create an exam with its findings, or update the one with this accession number."""
        return super().create(request, *args, **kwargs)

    def natural_match(self, data: dict, lookup: BulkLookup | None = None) -> ImagingExam | None:
        accession, uid, patient = (
            data.get("accession_number"), data.get("study_instance_uid"), data.get("patient")
        )  # fmt: skip
        if not str(patient).isdecimal():
            return None
        # Only strings can be keys (a list would not even hash in the bulk lookup).
        accession, uid = (v if isinstance(v, str) else None for v in (accession, uid))
        if lookup is not None:
            exams = lookup.extra["exams"]
            return exams.get(("acc", int(patient), accession)) or exams.get(
                ("uid", int(patient), uid)
            )
        keys = Q()
        if isinstance(accession, str) and accession:
            keys |= Q(accession_number=accession)
        if isinstance(uid, str) and uid:
            keys |= Q(study_instance_uid=uid)
        if not keys:
            return None
        return (
            self.get_queryset()
            .filter(keys, clinic_id__in=writable_clinic_ids(self.request), patient_id=patient)
            .first()
        )

    # --- bulk ---------------------------------------------------------------------------

    def bulk_lookup(self, request, records):
        lookup = super().bulk_lookup(request, records)
        dicts = [r for r in records if isinstance(r, dict)]
        accessions = {a for r in dicts if isinstance(a := r.get("accession_number"), str)}
        uids = {u for r in dicts if isinstance(u := r.get("study_instance_uid"), str)} - {""}
        exams = ImagingExam.objects.filter(
            Q(accession_number__in=accessions) | Q(study_instance_uid__in=uids),
            clinic_id__in=writable_clinic_ids(request),
        ).select_related("patient")
        lookup.extra["exams"] = {}
        lookup.extra["taken"] = {}
        for exam in exams:
            lookup.extra["exams"][("acc", exam.patient_id, exam.accession_number)] = exam
            lookup.extra["taken"][("acc", exam.clinic_id, exam.accession_number)] = exam.pk
            if exam.study_instance_uid:
                lookup.extra["exams"][("uid", exam.patient_id, exam.study_instance_uid)] = exam
                lookup.extra["taken"][("uid", exam.clinic_id, exam.study_instance_uid)] = exam.pk
        return lookup

    def bulk_existing(self, record, lookup):
        return self.natural_match(record, lookup)

    def bulk_key(self, serializer):
        data = serializer.validated_data
        patient = data.get("patient") or serializer.instance.patient
        return (patient.clinic_id, data.get("accession_number"))

    def bulk_save(self, valid):
        """Valid exams and their findings in a few statements; then one signal, on which
        the follow-up domain sets one stale mark and batched refresh tasks do the
        matching and the rules."""
        now = timezone.now()
        created, updated, findings, replaced, surgeries = [], [], [], [], set()
        refused, uids = [], {}
        for index, serializer in valid:
            data = dict(serializer.validated_data)
            items = data.pop("findings", None)
            exam = serializer.instance
            # Two records with one Study Instance UID would fail the whole bulk_create.
            clinic = (data.get("patient") or exam.patient).clinic_id
            uid = data.get("study_instance_uid", getattr(exam, "study_instance_uid", ""))
            if uid and (first := uids.setdefault((clinic, uid), index)) != index:
                error = f"Same Study Instance UID as index {first} in this request."
                refused.append({"index": index, "error": error})
                continue
            if exam is None:
                exam = ImagingExam(**data)
                exam.clinic_id = exam.patient.clinic_id
                created.append((index, exam))
            else:
                surgeries.add(exam.surgery_id)  # the surgery it leaves is re-matched too
                for name, value in data.items():
                    setattr(exam, name, value)
                exam.updated_at = now
                updated.append((index, exam))
                if items is not None:
                    replaced.append(exam.pk)
            surgeries.add(exam.surgery_id)
            findings += [(exam, item) for item in (items or [])]
        ImagingExam.objects.bulk_create([exam for _, exam in created])
        ImagingExam.objects.bulk_update([exam for _, exam in updated], UPDATABLE)
        Finding.objects.filter(exam_id__in=replaced).delete()
        Finding.objects.bulk_create(Finding(exam=exam, **item) for exam, item in findings)
        exams_written_in_bulk.send(sender=ImagingExam, surgery_ids=surgeries)
        return (
            [{"index": index, "id": exam.pk, "created": True} for index, exam in created]
            + [{"index": index, "id": exam.pk, "created": False} for index, exam in updated]
            + refused
        )
