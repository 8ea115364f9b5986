"""The envelope every signed message travels in, the protocol version, signing contexts and the protocol error."""

from __future__ import annotations

import msgspec

from sync.errors import ProxyAppError

__all__ = (
    "CTX_DOWN",
    "CTX_RECEIPT",
    "CTX_REQUEST",
    "CTX_REQUEST_V2",
    "CTX_TRANSFER",
    "CTX_UP",
    "GENESIS",
    "MAX_SEQ",
    "MEDIA_TYPE",
    "PROTOCOL_VERSION",
    "SET_FORMAT_2",
    "Envelope",
    "ProtocolError",
    "decode_envelope",
)

PROTOCOL_VERSION = 1
"""The version this code speaks. A peer sending another one gets error ``protocol_version``."""

MEDIA_TYPE = "application/vnd.msgpack"

# Signing contexts: one key never signs the same bytes for two purposes.
CTX_UP = b"proxyapp/up-set/v1\x00"
CTX_DOWN = b"proxyapp/down-set/v1\x00"
CTX_RECEIPT = b"proxyapp/receipt/v1\x00"
CTX_REQUEST = b"proxyapp/request/v1\x00"
CTX_REQUEST_V2 = b"proxyapp/request/v2\x00"
"""A request whose canonical form also covers the head seq, outbox length and software version."""
CTX_TRANSFER = b"proxyapp/transfer/v1\x00"

GENESIS = bytes(32)
"""The ``prev`` hash of seq 1."""

MAX_SEQ = 2**53 - 1
"""The largest seq, counter or position a message may carry (a database integer, and exact in JSON)."""


class ProtocolError(ProxyAppError):
    """A message broke the protocol; ``code`` is one of the codes in docs/protocol.md."""

    code = "protocol"


class Envelope(msgspec.Struct, frozen=True, array_like=True):
    """A signed message: the signer's key id, the exact signed bytes, the signature."""

    protocol: int
    key_id: str
    payload: msgspec.Raw
    signature: bytes


SET_FORMAT_2 = 2
"""``Envelope.protocol`` of a set of format 2 (:class:`SignedSet2`); every other envelope says 1."""


_ENVELOPE = msgspec.msgpack.Decoder(Envelope)


def decode_envelope(data: bytes) -> Envelope:
    """Parse the outer envelope only (the payload stays raw bytes until verified)."""
    try:
        envelope = _ENVELOPE.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(
            zh=f"不是有效的签名消息（{exc}）", en=f"not a signed message ({exc})", code="malformed"
        ) from None
    if envelope.protocol not in (PROTOCOL_VERSION, SET_FORMAT_2):
        raise ProtocolError(
            zh=f"协议版本 {envelope.protocol} 不受支持（本端为 {PROTOCOL_VERSION}）；请升级软件",
            en=f"protocol version {envelope.protocol} is not spoken here (this side speaks {PROTOCOL_VERSION}); "
            "update the software",
            code="protocol_version",
        )
    return envelope
