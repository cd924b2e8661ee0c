"""Real peers on loopback: the listener (`manage.py dicom_listener`) as a process of its own
against the test database, pynetdicom's SCU and dcmtk's storescu sending to it, and a
throwaway Orthanc with its DICOMweb plugin for the PACS reconciliation."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES

from followup.feeds.dicom.listener import STORAGE_CLASSES
from followup.models import DicomSource, DoseCoefficient
from followup.ops.serving import database_url
from tests.smtp import free_port
from tests.worker import ROOT

CALLED = "FOLLOWUP"
START_TIMEOUT = 60  # seconds: a Django process on a busy machine
AAPM_96 = "AAPM Report No. 96 (2008), Table 4"


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(condition, timeout: float = 30.0, what: str = "the condition"):
    """Poll: another process is doing the work (never a sleep standing for time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class ListenerProcess:
    def __init__(self, **env: str) -> None:
        self.port = free_port()
        self.env = env
        self.log = Path(tempfile.mkstemp(prefix="dicom-listener-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def start(self) -> "ListenerProcess":
        queue = f"test-dicom-{uuid.uuid4().hex[:8]}"  # nobody reads the nudges
        env = {**os.environ, "DATABASE_URL": database_url(), "CELERY_TASK_DEFAULT_QUEUE": queue,
               **self.env}  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "dicom_listener", "--port", str(self.port),
                 "--ae-title", CALLED, "--host", "127.0.0.1"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        # Its announcement, not a probe of the port: a connection without an association
        # request would hold one of its places for DICOM_ACSE_TIMEOUT.
        ready = f"DICOM listener {CALLED} on"
        try:
            wait_for(lambda: ready in self.output() or self.process.poll() is not None,
                     START_TIMEOUT, "the DICOM listener")  # fmt: skip
        except AssertionError:
            self.stop()
            raise
        assert self.process.poll() is None, self.output()
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def answers_new(self) -> bool:
        """A new connection is accepted (and closed at once)."""
        return answers(self.port)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode


@pytest.fixture(scope="session")
def listener(django_db_setup, django_db_blocker):
    """One listener for the session: it reads the sources at each association, so each
    test's own rows (committed: `transactional_db`) are what it sees."""
    with django_db_blocker.unblock():
        process = ListenerProcess().start()
    yield process
    process.stop()


@pytest.fixture
def ct1(transactional_db, clinic_a) -> DicomSource:
    return DicomSource.objects.create(clinic=clinic_a, ae_title="CT1", name="CT room 1")


@pytest.fixture
def ct_coefficients(transactional_db) -> None:
    """The migration's AAPM Report 96 k-factors (a transactional test flushes them)."""
    k_factors = {"chest": "0.014", "abdomen_pelvis": "0.015", "trunk": "0.015",
                 "neck": "0.0059", "head": "0.0021", "head_neck": "0.0031"}  # fmt: skip
    for region, value in k_factors.items():
        DoseCoefficient.objects.get_or_create(
            clinic=None,
            kind="ct_dlp",
            region=region,
            version=1,
            defaults={"value": Decimal(value), "source": AAPM_96},
        )


def send(port: int, datasets, calling: str = "CT1", called: str = CALLED) -> list[int] | None:
    """pynetdicom's SCU: one association, every dataset; their statuses, or None when the
    association was rejected."""
    ae = AE(ae_title=calling)
    for storage_class in STORAGE_CLASSES:
        ae.add_requested_context(storage_class, ALL_TRANSFER_SYNTAXES[:2])
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return None
    try:
        return [assoc.send_c_store(ds).Status for ds in datasets]
    finally:
        assoc.release()


def storescu(port: int, paths, calling: str = "CT1") -> subprocess.CompletedProcess:
    """dcmtk's storescu, as a PACS administrator would test the connection."""
    return subprocess.run(
        ["storescu", "-aet", calling, "-aec", CALLED, "127.0.0.1", str(port),
         *[str(p) for p in paths]],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture
def folder():
    path = Path(tempfile.mkdtemp(prefix="dicom-objects-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


ORTHANC = "/usr/sbin/Orthanc"
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"


class OrthancProcess:
    """A throwaway Orthanc with its DICOMweb plugin: HTTP on a free loopback port, basic
    auth, its storage in a temporary folder, no DICOM server of its own."""

    user, password = "sync", "a-test-password"

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="orthanc-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def start(self) -> "OrthancProcess":
        config = {
            "Name": "TEST-PACS", "HttpPort": self.port, "DicomServerEnabled": False,
            "DicomPort": free_port(), "RemoteAccessAllowed": False,
            "StorageDirectory": str(self.dir / "db"), "IndexDirectory": str(self.dir / "db"),
            "AuthenticationEnabled": True, "RegisteredUsers": {self.user: self.password},
            "Plugins": [DICOMWEB_PLUGIN], "HttpServerEnabled": True,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
        }  # fmt: skip
        (self.dir / "orthanc.json").write_text(json.dumps(config))
        with (self.dir / "orthanc.log").open("ab") as log:
            self.process = subprocess.Popen(
                [ORTHANC, str(self.dir / "orthanc.json")],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        wait_for(self._answers, START_TIMEOUT, "Orthanc")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError((self.dir / "orthanc.log").read_text(errors="replace"))
        try:
            return requests.get(f"{self.url}/system", auth=(self.user, self.password),
                                timeout=1).ok  # fmt: skip
        except requests.RequestException:
            return False

    def upload(self, path: Path) -> None:
        answer = requests.post(f"{self.url}/instances", data=path.read_bytes(),
                               auth=(self.user, self.password), timeout=30)  # fmt: skip
        answer.raise_for_status()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def orthanc():
    process = OrthancProcess().start()
    yield process
    process.stop()
