"""HL7 v2 over MLLP (API_CONTRACT, "Hospital feeds / HL7 v2"): `reading` parses a frame
with python-hl7, `handlers` turn each message type into the REST API's writes,
`processing` holds exactly-once and the message log, `acks` answers, `listener` serves
MLLP connections (`manage.py hl7_listener`)."""
