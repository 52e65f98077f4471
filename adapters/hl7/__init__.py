"""HL7 v2: ORU^R01 in (-> RadiologyReport), ACK and ORU^R01 with results out, MLLP framing,
batch files (FHS/BHS ... BTS/FTS) split into messages and answered with an ACK batch.

Library use: hl7apy provides the HL7 tables checked here (0123, 0085, 0125) and re-reads our
output in tests; python-hl7 is the MLLP client in tests and the README. Tokenising, escapes,
message building and the MLLP listener (plugin/mllp.py) are ours for the reasons given in
er7.py, escapes.py, ack.py and mllp.py.
"""

from adapters.hl7.ack import ack_for_storage_failure, application_ack, build_ack, new_control_id
from adapters.hl7.batch import Hl7Batch, build_batch_ack, is_batch, split_batch, split_implicit
from adapters.hl7.er7 import content_key, frame, normalise, unframe, wide_codec
from adapters.hl7.errors import TABLE_0357, Hl7Error
from adapters.hl7.escapes import EncodingChars, escape, unescape
from adapters.hl7.header import MshHeader, OruHeader, peek_header
from adapters.hl7.oru_in import OruMessage, parse_dtm, parse_oru
from adapters.hl7.oru_out import analysis_to_oru
from adapters.hl7.tables import modality

__all__ = [
    "Hl7Error",
    "TABLE_0357",
    "MshHeader",
    "OruHeader",
    "OruMessage",
    "EncodingChars",
    "normalise",
    "content_key",
    "frame",
    "unframe",
    "wide_codec",
    "peek_header",
    "parse_oru",
    "parse_dtm",
    "build_ack",
    "Hl7Batch",
    "is_batch",
    "split_batch",
    "split_implicit",
    "build_batch_ack",
    "application_ack",
    "new_control_id",
    "ack_for_storage_failure",
    "analysis_to_oru",
    "escape",
    "unescape",
    "modality",
]
