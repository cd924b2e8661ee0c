"""The hospital feeds' settings, read from the environment like the rest (followup/settings.py
imports them all): HL7 v2 over MLLP, DICOM, the PACS reconciliation, feed monitoring."""

from django.core.exceptions import ImproperlyConfigured

from .env import env_int, env_list, env_str

# Hospital feeds, HL7 v2 over MLLP (`manage.py hl7_listener`, docs/operations.md).
# The received messages (raw text: PHI) are kept this many days, then deleted by the
# sweep; 0 keeps them forever.
HL7_RETENTION_DAYS = env_int("HL7_RETENTION_DAYS", 90, minimum=0)
# The largest frame accepted (bytes); a larger one is answered AR and the connection closed.
HL7_MAX_FRAME_BYTES = env_int("HL7_MAX_FRAME_BYTES", 2 * 1024 * 1024, minimum=1)
# Connections served at once; one more is told so (an AR) and closed.
HL7_MAX_CONNECTIONS = env_int("HL7_MAX_CONNECTIONS", 100, minimum=1)
# Listener processes on the one port (SO_REUSEPORT: the kernel spreads the connections),
# so that many connections use every core; HL7_MAX_CONNECTIONS is per process.
HL7_PROCESSES = env_int("HL7_PROCESSES", 1, minimum=1)
# A connection silent this long (seconds) is closed; a half-sent frame with it.
HL7_IDLE_TIMEOUT = env_int("HL7_IDLE_TIMEOUT", 300, minimum=1)
# A source silent this long (minutes) within the working hours of a working day, in its
# clinic's time zone, raises a feed alert for the clinic's managers (worklist, e-mail);
# its next message resolves it (docs/operations.md, "Feed monitoring").
HL7_SILENCE_MINUTES = env_int("HL7_SILENCE_MINUTES", 120, minimum=1)
# ISO weekdays (1 = Monday ... 7 = Sunday) and local hours [start, end) the feeds are
# expected to be busy.
FEED_WORKING_DAYS = [int(day) for day in env_list("FEED_WORKING_DAYS", ["1", "2", "3", "4", "5"])]
FEED_WORKING_HOURS = tuple(int(h) for h in env_list("FEED_WORKING_HOURS", ["7", "19"]))
if not FEED_WORKING_DAYS or not set(FEED_WORKING_DAYS) <= set(range(1, 8)):
    raise ImproperlyConfigured("FEED_WORKING_DAYS: ISO weekdays, 1 (Monday) to 7, e.g. 1,2,3,4,5")
if len(FEED_WORKING_HOURS) != 2 or not 0 <= FEED_WORKING_HOURS[0] < FEED_WORKING_HOURS[1] <= 24:
    raise ImproperlyConfigured("FEED_WORKING_HOURS: two local hours, start,end, e.g. 7,19")

# The DICOM feed (followup/feeds/dicom; docs/operations.md, "Hospital feeds: DICOM").
# The storage SCP accepts this many associations at once (beyond: rejected as transient,
# the modality tries again), offers this maximum PDU size (bytes; 0 is unlimited), and
# gives up on a silent peer after DICOM_TIMEOUT seconds; on SIGTERM the associations under way get
# DICOM_SHUTDOWN_GRACE seconds to end. A connection that sends no association request
# (a port probe) holds its place for DICOM_ACSE_TIMEOUT seconds: pynetdicom does not
# notice a connection closed before the request.
DICOM_MAX_ASSOCIATIONS = env_int("DICOM_MAX_ASSOCIATIONS", 10)
DICOM_MAX_PDU_SIZE = env_int("DICOM_MAX_PDU_SIZE", 65536)
DICOM_TIMEOUT = env_int("DICOM_TIMEOUT", 30)
DICOM_ACSE_TIMEOUT = env_int("DICOM_ACSE_TIMEOUT", 5)
DICOM_SHUTDOWN_GRACE = env_int("DICOM_SHUTDOWN_GRACE", 20)
# The PACS asked each night for the studies no association brought (`manage.py pacs_sync`):
# its DICOMweb base (QIDO-RS under it); empty, the reconciliation is off. Credentials by
# environment only (HTTP basic). The first run asks this many days back.
PACS_DICOMWEB_URL = env_str("PACS_DICOMWEB_URL", "").strip()
PACS_DICOMWEB_USER = env_str("PACS_DICOMWEB_USER", "")
PACS_DICOMWEB_PASSWORD = env_str("PACS_DICOMWEB_PASSWORD", "")
PACS_SYNC_FIRST_DAYS = env_int("PACS_SYNC_FIRST_DAYS", 400)
PACS_TIMEOUT = env_int("PACS_TIMEOUT", 30)  # seconds, per request
