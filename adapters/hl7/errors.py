"""The one exception the HL7 adapter raises for input it will not accept.

It carries what an ACK needs (MSA-1 code, table 0357 code, ERL location, readable
text), so the plugin answers a fault without knowing HL7. Texts never quote the
message: they name fields and positions only (no PHI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from adapters.hl7.header import MshHeader

TABLE_0357: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}
"""HL7 table 0357 (message error condition codes) with their standard names."""


class Hl7Error(Exception):
    """An HL7 v2 message that gets an AE (content wrong) or AR (rejected: type, version, system) ACK."""

    def __init__(
        self,
        ack_code: Literal["AE", "AR"],
        err_code: str,
        location: str,
        text: str,
        header: MshHeader | None = None,
    ) -> None:
        super().__init__(f"{ack_code} {err_code} at {location or '-'}: {text}")
        self.ack_code: Literal["AE", "AR"] = ack_code
        self.err_code = err_code
        self.location = location
        self.text = text
        self.header = header

    @property
    def err_name(self) -> str:
        """Table 0357 name of `err_code` (e.g. 'Required field missing')."""
        return TABLE_0357.get(self.err_code, "Error")
