"""What a payload decoder knows about the message around it.

GBCS payloads (GBZ, DLMS COSEM, ASN.1 DER) are decoded with the grouping header's facts
at hand: the message code chooses the ASN.1 structure and names DLMS attributes, the CRA
flag tells command from response from alert, and encrypted parts are opened with the
payload key of the originator and recipient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Flags of the transaction id: Command, Response, Alert.
CRA_COMMAND = 1
CRA_RESPONSE = 2
CRA_ALERT = 3

# decrypt(ciphertext_and_tag) -> plaintext, or None when no key is at hand or the tag
# does not verify. GBCS payload encryption: AES-128-GCM, IV = originator system title
# || 00000000, AAD = 0x31, 12-byte tag at the end.
Decryptor = Callable[[bytes], "bytes | None"]


@dataclass(slots=True)
class ContentContext:
    message_code: int
    cra: int
    originator: bytes = b""
    recipient: bytes = b""
    originator_counter: int = 0
    decrypt: Decryptor | None = None
    # Filled in by decoders for the caller: "decrypted", "undecrypted" (no key) or
    # "bad-tag" for each encrypted part, in order.
    decryptions: list[str] = field(default_factory=list)
