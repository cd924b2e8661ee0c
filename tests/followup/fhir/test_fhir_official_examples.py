"""The official HL7 examples (hl7.fhir.r4b.examples 4.3.0): each Patient, Procedure,
ImagingStudy and DiagnosticReport imports, or is refused with an OperationOutcome that
names its entry and says why.

Each example is sent in a transaction Bundle with the example Patient it refers to,
when the package has it, so that a refusal is about the example itself.
"""

import pytest

from imaging.models import ImagingExam
from patients.models import Patient, PatientIdentifier

from .conftest import EXAMPLE_TYPES, example, fhir_post, transaction, valid

NO_MRN = "a new patient needs an identifier of type MR"
NO_FAMILY = "Patient.name.family"
NOT_OURS = "is not one this service follows up"
NO_STUDY = "names no ImagingStudy of this Bundle or of this clinic"

# None: imports. Otherwise what the refusal of the example's own entry says.
EXPECTED: dict[str, str | None] = {
    "Patient-example": None,
    "Patient-glossy": None,
    "Patient-infant-twin-1": None,
    "Patient-infant-twin-2": None,
    "Patient-pat1": None,
    "Patient-pat2": None,
    "Patient-pat3": None,
    "Patient-pat4": None,
    "Patient-xcda": None,
    "Patient-xds": None,
    "Patient-animal": NO_MRN,
    "Patient-dicom": NO_MRN,
    "Patient-f001": NO_MRN,
    "Patient-f201": NO_MRN,
    "Patient-genetics-example1": NO_MRN,
    "Patient-ihe-pcd": NO_MRN,
    "Patient-infant-mom": NO_MRN,
    "Patient-mom": NO_MRN,
    "Patient-newborn": NO_MRN,
    "Patient-proband": NO_MRN,
    "Patient-ch-example": NO_FAMILY,
    "Patient-infant-fetal": NO_FAMILY,
    # Not spine surgeries.
    "Procedure-HCBS": NOT_OURS,
    "Procedure-appendectomy-narrative": NOT_OURS,
    "Procedure-biopsy": NOT_OURS,
    "Procedure-colon-biopsy": NOT_OURS,
    "Procedure-colonoscopy": NOT_OURS,
    "Procedure-education": NOT_OURS,
    "Procedure-example": NOT_OURS,
    "Procedure-example-implant": NOT_OURS,
    "Procedure-f001": NOT_OURS,
    "Procedure-f002": NOT_OURS,
    "Procedure-f003": NOT_OURS,
    "Procedure-f004": NOT_OURS,
    "Procedure-f201": NOT_OURS,
    "Procedure-ob": NOT_OURS,
    "Procedure-physical-therapy": NOT_OURS,
    "Procedure-ambulation": "only completed surgeries are followed up",
    # Their patient has no MRN (see the tests with a known patient below).
    "ImagingStudy-example-xr": "which is refused",
    "ImagingStudy-example": "which is refused",
    # Reports of studies this clinic does not have (and mostly not imaging at all).
    "DiagnosticReport-102": NO_STUDY,
    "DiagnosticReport-example-pgx": NO_STUDY,
    "DiagnosticReport-f201": NO_STUDY,
    "DiagnosticReport-gingival-mass": NO_STUDY,
    "DiagnosticReport-pap": NO_STUDY,
    "DiagnosticReport-ultrasound": NO_STUDY,
}


def bundle_of(directory, name: str) -> tuple[dict, int]:
    """The example in a transaction Bundle, after the Patient it refers to; and its index."""
    resource = example(directory, name)
    subject = (resource.get("subject") or {}).get("reference", "")
    resources = [resource]
    patient_file = directory / f"Patient-{subject.removeprefix('Patient/')}.json"
    referred = resource["resourceType"] != "Patient" and subject.startswith("Patient/")
    if referred and patient_file.is_file():
        resources.insert(0, example(directory, patient_file.stem))
    urls = [f"http://hl7.org/fhir/{r['resourceType']}/{r['id']}" for r in resources]
    return transaction(*resources, full_urls=urls), len(resources) - 1


def test_the_table_covers_every_example_of_the_four_types(fhir_examples):
    names = {path.stem for path in fhir_examples.glob("*.json")}
    assert {name.split("-")[0] for name in names} == set(EXAMPLE_TYPES)
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_official_example(integration_a, fhir_examples, name):
    bundle, index = bundle_of(fhir_examples, name)
    response = fhir_post(integration_a, "/fhir/r4/", bundle)
    answer = valid(response.json())
    if EXPECTED[name] is None:
        assert response.status_code == 200, answer
        assert answer["entry"][index]["response"]["status"] == "201 Created"
        again = fhir_post(integration_a, "/fhir/r4/", bundle).json()
        assert again["entry"][index]["response"]["status"] == "200 OK"
        assert Patient.objects.count() == 1
        return
    assert response.status_code == 400, answer
    own = [i for i in answer["issue"] if i["expression"][0].startswith(f"Bundle.entry[{index}]")]
    assert own, answer
    assert own[0]["diagnostics"].startswith(f"Bundle.entry[{index}] ({name.split('-')[0]} ")
    assert EXPECTED[name] in own[0]["diagnostics"]
    assert Patient.objects.count() == 0
    assert ImagingExam.objects.count() == 0


def test_the_xr_study_imports_for_a_patient_the_clinic_knows(integration_a, fhir_examples):
    """Patient-dicom has no MRN but an identifier the clinic already has: it is matched."""
    known = Patient.objects.create(clinic=integration_a.clinic, mrn="D-1", family_name="Mint")
    PatientIdentifier.objects.create(
        patient=known, system="http://nema.org/examples/patients", value="MINT1234"
    )
    bundle, _ = bundle_of(fhir_examples, "ImagingStudy-example-xr")
    response = fhir_post(integration_a, "/fhir/r4/", bundle)
    assert response.status_code == 200, response.json()
    exam = ImagingExam.objects.get()
    assert (exam.patient, exam.modality, exam.accession_number) == (known, "XR", "W12342398")
    assert exam.study_instance_uid == "2.16.124.113543.6003.1154777499.30246.19789.3503430046"
    known.refresh_from_db()
    assert (known.mrn, known.family_name) == ("D-1", "MINT_TEST")


def test_the_ct_study_imports_by_its_study_instance_uid_alone(integration_a, fhir_examples):
    """ImagingStudy-example has no accession number: its Study Instance UID names it."""
    known = Patient.objects.create(clinic=integration_a.clinic, mrn="D-1", family_name="Mint")
    PatientIdentifier.objects.create(
        patient=known, system="http://nema.org/examples/patients", value="MINT1234"
    )
    bundle, index = bundle_of(fhir_examples, "ImagingStudy-example")
    response = fhir_post(integration_a, "/fhir/r4/", bundle)
    assert response.status_code == 200, response.json()
    exam = ImagingExam.objects.get()
    assert (exam.patient, exam.modality, exam.accession_number) == (known, "CT", "")
    assert exam.study_instance_uid == "2.16.124.113543.6003.1154777499.30246.19789.3503430045"
    again = fhir_post(integration_a, "/fhir/r4/", bundle).json()
    assert again["entry"][index]["response"]["status"] == "200 OK"
    assert ImagingExam.objects.count() == 1


def test_a_study_of_a_patient_neither_in_the_bundle_nor_in_the_clinic(integration_a, fhir_examples):
    study = example(fhir_examples, "ImagingStudy-example-xr")
    response = fhir_post(integration_a, "/fhir/r4/", transaction(study))
    assert response.status_code == 400
    issue = valid(response.json())["issue"][0]
    assert issue["code"] == "not-found"
    assert (
        "Patient/dicom is neither in this Bundle nor a Patient of this clinic"
        in (issue["diagnostics"])
    )
