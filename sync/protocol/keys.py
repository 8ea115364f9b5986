"""Key rotation: a station's new keys carried up in its set, the hub's new keys carried down its feeds.

Either side hands over to a new key pair (an Ed25519 signing key and an X25519 box key) by signing
the new public keys with the signing key they replace, so a peer that trusts the old key can trust
the new one without anyone comparing fingerprints again (docs/protocol.md, "Key rotation"):

- :class:`KeyChange` (``"key"``) is a record of a station's set: its new keys, signed by its current
  key and by the new one (which proves the station holds it). The set that carries it is signed by
  the current key; every later set, and every request once the hub has acknowledged it, by the new
  one; the hub refuses the old key from then on (``retired_key``).
- :class:`HubKeyItem` (``"hub_key"``) is a feed item: the hub's next key generation, signed by the
  generation before. The feed set that carries it is signed by the old key; every later set of that
  feed by the new one. Only a station that said ``FEATURE_KEY_ROTATION`` gets it: a 0.4 or 0.5
  station refuses a feed set holding an item it does not know, so its feed stays under the keys
  it pinned until it is upgraded and says the bit.
"""

from __future__ import annotations

import msgspec

from sync.crypto import key_id_of, sign, verify

__all__ = (
    "CTX_HUB_KEY",
    "CTX_STATION_KEY",
    "HubKeyItem",
    "KeyChange",
    "decode_key_change",
    "hub_key_statement",
    "key_change_statement",
    "sign_hub_key",
    "sign_key_change",
    "verify_hub_key",
    "verify_key_change",
)

CTX_STATION_KEY = b"proxyapp/station-key/v1\x00"
"""Signing context of a station's handover to its new keys (:class:`KeyChange`)."""
CTX_HUB_KEY = b"proxyapp/hub-key/v1\x00"
"""Signing context of the hub's handover to its next key generation (:class:`HubKeyItem`)."""

_ENCODER = msgspec.msgpack.Encoder()


class KeyChange(msgspec.Struct, tag="key", kw_only=True, frozen=True):
    """A station's new keys, carried as a record of its next set (``station rekey``).

    ``signature`` is the replaced key's over :func:`key_change_statement`, ``proof`` the new key's
    over the same bytes. The hub takes it only from the station the statement names, signed by the
    key that signs the set carrying it; sets after that set are signed by the new key.
    """

    old_key_id: str
    sign_public: bytes
    box_public: bytes
    hlc: int
    at: str
    """UTC time the station made the keys, ISO 8601 with ``Z``."""
    signature: bytes
    proof: bytes


class HubKeyItem(msgspec.Struct, tag="hub_key", kw_only=True, frozen=True):
    """The hub's key generation ``gen`` (its signing and box keys), signed by generation ``gen - 1``'s
    signing key over :func:`hub_key_statement`. The feed set carrying it is signed by the old key;
    the station pins the new keys and checks every later set of its feed against them."""

    gen: int
    sign_public: bytes
    box_public: bytes
    at: str
    signature: bytes


def key_change_statement(*, station_id: str, old_key_id: str, sign_public: bytes, box_public: bytes, at: str) -> bytes:
    """The bytes both keys sign: ``[station_id, old_key_id, sign_public, box_public, at]`` (msgpack)."""
    return _ENCODER.encode([station_id, old_key_id, sign_public, box_public, at])


def sign_key_change(
    *,
    station_id: str,
    old_sign_private: bytes,
    old_sign_public: bytes,
    new_sign_private: bytes,
    new_sign_public: bytes,
    new_box_public: bytes,
    hlc: int,
    at: str,
) -> KeyChange:
    """The record that hands a station over from its current keys to new ones."""
    old_key_id = key_id_of(old_sign_public)
    statement = key_change_statement(
        station_id=station_id, old_key_id=old_key_id, sign_public=new_sign_public, box_public=new_box_public, at=at
    )
    return KeyChange(
        old_key_id=old_key_id,
        sign_public=new_sign_public,
        box_public=new_box_public,
        hlc=hlc,
        at=at,
        signature=sign(old_sign_private, CTX_STATION_KEY, statement),
        proof=sign(new_sign_private, CTX_STATION_KEY, statement),
    )


def verify_key_change(change: KeyChange, *, station_id: str, old_sign_public: bytes) -> bool:
    """Whether ``change`` hands ``station_id``'s key ``old_sign_public`` over to keys its holder has."""
    if len(change.sign_public) != 32 or len(change.box_public) != 32:
        return False
    if change.old_key_id != key_id_of(old_sign_public) or change.sign_public == old_sign_public:
        return False
    statement = key_change_statement(
        station_id=station_id,
        old_key_id=change.old_key_id,
        sign_public=change.sign_public,
        box_public=change.box_public,
        at=change.at,
    )
    return verify(old_sign_public, CTX_STATION_KEY, statement, change.signature) and verify(
        change.sign_public, CTX_STATION_KEY, statement, change.proof
    )


_KEY_CHANGE = msgspec.msgpack.Decoder(KeyChange)


def decode_key_change(data: bytes) -> KeyChange | None:
    """The :class:`KeyChange` a record holds; None for any other record (or one that does not decode)."""
    try:
        return _KEY_CHANGE.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None


def hub_key_statement(*, gen: int, old_key_id: str, sign_public: bytes, box_public: bytes, at: str) -> bytes:
    """The bytes the old generation signs: ``[gen, old_key_id, sign_public, box_public, at]`` (msgpack)."""
    return _ENCODER.encode([gen, old_key_id, sign_public, box_public, at])


def sign_hub_key(
    *, gen: int, old_sign_private: bytes, old_sign_public: bytes, sign_public: bytes, box_public: bytes, at: str
) -> bytes:
    """Generation ``gen - 1``'s signature handing the hub over to generation ``gen``'s keys."""
    statement = hub_key_statement(
        gen=gen, old_key_id=key_id_of(old_sign_public), sign_public=sign_public, box_public=box_public, at=at
    )
    return sign(old_sign_private, CTX_HUB_KEY, statement)


def verify_hub_key(item: HubKeyItem, *, pinned_sign_public: bytes) -> bool:
    """Whether ``item`` is the handover signed by the hub key a station pinned."""
    if len(item.sign_public) != 32 or len(item.box_public) != 32 or item.gen < 2:
        return False
    statement = hub_key_statement(
        gen=item.gen,
        old_key_id=key_id_of(pinned_sign_public),
        sign_public=item.sign_public,
        box_public=item.box_public,
        at=item.at,
    )
    return verify(pinned_sign_public, CTX_HUB_KEY, statement, item.signature)
