"""Keys and the cryptography of the protocol: Ed25519 signatures, sealed boxes, wrapped private keys."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os

import msgspec
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sync.errors import ProxyAppError

__all__ = (
    "CryptoError",
    "KeyPair",
    "box_key",
    "box_layout",
    "fingerprint",
    "key_id_of",
    "mac",
    "open_box",
    "open_box_with_key",
    "pair_key",
    "rewrap_private",
    "seal_box",
    "sha256",
    "sign",
    "unwrap_private",
    "unwrap_private_key",
    "verify",
    "wrap_private",
)


class CryptoError(ProxyAppError):
    """A signature, a sealed box or a wrapped key did not check out."""

    code = "crypto"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mac(secret: bytes, *parts: bytes) -> bytes:
    """HMAC-SHA256 over length-prefixed parts (so ("ab","c") and ("a","bc") differ)."""
    h = hmac.new(secret, digestmod=hashlib.sha256)
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def key_id_of(public_key: bytes) -> str:
    """A short, stable name for a public key: 16 hex characters of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:16]


def fingerprint(public_key: bytes) -> str:
    """What a person compares when pinning a key: SHA-256, grouped ``AB12 CD34 …`` (first 80 bits)."""
    digest = hashlib.sha256(public_key).hexdigest()[:20].upper()
    return " ".join(digest[i : i + 4] for i in range(0, 20, 4))


class KeyPair(msgspec.Struct, frozen=True):
    """An identity: an Ed25519 signing key and an X25519 key for boxes sealed to it (raw 32-byte halves)."""

    sign_private: bytes
    sign_public: bytes
    box_private: bytes
    box_public: bytes

    @classmethod
    def generate(cls) -> KeyPair:
        signing = Ed25519PrivateKey.generate()
        boxing = X25519PrivateKey.generate()
        return cls(
            sign_private=signing.private_bytes_raw(),
            sign_public=signing.public_key().public_bytes_raw(),
            box_private=boxing.private_bytes_raw(),
            box_public=boxing.public_key().public_bytes_raw(),
        )

    @property
    def key_id(self) -> str:
        return key_id_of(self.sign_public)


def sign(private: bytes, context: bytes, data: bytes) -> bytes:
    """Ed25519 signature over ``context + data``; the context separates the protocol's uses of one key."""
    return _signing_key(private).sign(context + data)


@functools.lru_cache(maxsize=16)
def _signing_key(private: bytes) -> Ed25519PrivateKey:
    # Loaded once per key: loading derives the public half (a scalar multiplication), and the hub signs a
    # receipt for every set it takes with the same few keys.
    return Ed25519PrivateKey.from_private_bytes(private)


def verify(public: bytes, context: bytes, data: bytes, signature: bytes) -> bool:
    """True when ``signature`` is ``public``'s signature over ``context + data``."""
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, context + data)
    except (InvalidSignature, ValueError):
        return False
    return True


_BOX_VERSION = b"\x01"
_PAIR_VERSION = b"\x02"
_PAIR_BOX = b"proxyapp/box/v2\x00"
_SET_VERSION = b"\x03"
_SET_BOX = b"proxyapp/box/v3\x00"
_MIN_PAIR_BOX = 1 + 12 + 16
"""Layouts 0x02 and 0x03: the version byte, the nonce and the tag."""


def _set_key(own_box_private: bytes, peer_box_public: bytes, aad: bytes) -> bytes:
    # Layout 0x03: the box's own key, HKDF over the pair's static X25519 with the box's place in the info
    # (label || aad || both public keys): disclosing it opens this box alone, and it derives neither the
    # pair's layout-0x02 key (another label) nor any other box's (another aad).
    return pair_key(own_box_private, peer_box_public, _SET_BOX + aad)


def _box_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral_public + recipient_public, info=b"proxyapp/box/v1"
    ).derive(shared)


def seal_box(
    recipient_public: bytes,
    plaintext: bytes,
    aad: bytes,
    *,
    sender_private: bytes | None = None,
    per_box: bool = False,
) -> bytes:
    """Encrypt so only the holder of the recipient's X25519 private key can read (ECDH + AES-GCM).

    ``aad`` binds the box to its place (origin and seq), so a box cannot be moved to another set.

    Two layouts, told apart by their first byte:

    - ``0x01 || ephemeral_public(32) || nonce(12) || ciphertext+tag``: an ephemeral key per box
      (no ``sender_private``), for anyone who holds the recipient's public key;
    - ``0x02 || nonce(12) || ciphertext+tag``: the sender's own box key (``sender_private``) with
      the recipient's, 32 bytes shorter. The key is the pair's (:func:`pair_key`); the random
      96-bit nonce never repeats in practice (a pair seals thousands of boxes, not billions);
    - ``0x03 || nonce(12) || ciphertext+tag`` (``per_box``, with ``sender_private``): as long as the
      second, but the key is the box's own, derived from the pair and ``aad`` (:func:`box_key` discloses
      it, and it opens that box alone). Only for a reader that said ``FEATURE_BOX_KEY``.
    """
    nonce = os.urandom(12)
    if sender_private is not None:
        if per_box:
            key = _set_key(sender_private, recipient_public, aad)
            return _SET_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
        key = pair_key(sender_private, recipient_public, _PAIR_BOX)
        return _PAIR_VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)
    if per_box:
        raise CryptoError(zh="单批密钥的密文需要发送方的密钥", en="a box with its own key needs the sender's box key")
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes_raw()
    shared = ephemeral.exchange(X25519PublicKey.from_public_bytes(recipient_public))
    key = _box_key(shared, ephemeral_public, recipient_public)
    return _BOX_VERSION + ephemeral_public + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_box(recipient_private: bytes, box: bytes, aad: bytes, *, sender_public: bytes | None = None) -> bytes:
    """Decrypt a :func:`seal_box` box of any layout (0x02 and 0x03 need ``sender_public``); CryptoError
    when it was altered, misplaced or not for us."""
    if box[:1] in (_PAIR_VERSION, _SET_VERSION) and len(box) >= _MIN_PAIR_BOX:
        if sender_public is None:
            raise CryptoError(zh="密文需要发送方的密钥才能解开", en="sealed box needs the sender's key to open")
        nonce, ciphertext = box[1:13], box[13:]
        if box[:1] == _SET_VERSION:
            key = _set_key(recipient_private, sender_public, aad)
        else:
            key = pair_key(recipient_private, sender_public, _PAIR_BOX)
    elif box[:1] == _BOX_VERSION and len(box) >= 1 + 32 + 12 + 16:
        ephemeral_public, nonce, ciphertext = box[1:33], box[33:45], box[45:]
        private = X25519PrivateKey.from_private_bytes(recipient_private)
        shared = private.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
        key = _box_key(shared, ephemeral_public, private.public_key().public_bytes_raw())
    else:
        raise CryptoError(zh="密文不完整或版本未知", en="sealed box is truncated or of an unknown version")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoError(
            zh="密文无法解开：已被篡改或不是发给本机的",
            en="sealed box does not open: altered, or not addressed to this key",
        ) from None


def box_layout(box: bytes) -> int:
    """The layout byte of a :func:`seal_box` box (1, 2 or 3; 0 for an empty one)."""
    return box[0] if box else 0


def box_key(recipient_private: bytes, box: bytes, aad: bytes, *, sender_public: bytes | None = None) -> bytes:
    """The AES-256-GCM key of one :func:`seal_box` box, for disclosing that box (docs/protocol.md, "County
    and province"): the box's own key for layouts 0x01 and 0x03 (it opens that box alone), the pair's key
    for 0x02 (it opens every 0x02 box of the pair). ``aad`` is the box's place, as sealed.

    Raises:
        CryptoError: the box is truncated, of an unknown layout, or 0x02/0x03 without ``sender_public``.
    """
    if box[:1] in (_PAIR_VERSION, _SET_VERSION) and len(box) >= _MIN_PAIR_BOX:
        if sender_public is None:
            raise CryptoError(zh="密文需要发送方的密钥才能解开", en="sealed box needs the sender's key to open")
        if box[:1] == _SET_VERSION:
            return _set_key(recipient_private, sender_public, aad)
        return pair_key(recipient_private, sender_public, _PAIR_BOX)
    if box[:1] == _BOX_VERSION and len(box) >= 1 + 32 + 12 + 16:
        private = X25519PrivateKey.from_private_bytes(recipient_private)
        shared = private.exchange(X25519PublicKey.from_public_bytes(box[1:33]))
        return _box_key(shared, box[1:33], private.public_key().public_bytes_raw())
    raise CryptoError(zh="密文不完整或版本未知", en="sealed box is truncated or of an unknown version")


def open_box_with_key(key: bytes, box: bytes, aad: bytes) -> bytes:
    """Open a :func:`seal_box` box of any layout with its disclosed key (:func:`box_key`); CryptoError
    when the key is not the box's, or the box was altered or moved."""
    if box[:1] in (_PAIR_VERSION, _SET_VERSION) and len(box) >= _MIN_PAIR_BOX:
        nonce, ciphertext = box[1:13], box[13:]
    elif box[:1] == _BOX_VERSION and len(box) >= 1 + 32 + 12 + 16:
        nonce, ciphertext = box[33:45], box[45:]
    else:
        raise CryptoError(zh="密文不完整或版本未知", en="sealed box is truncated or of an unknown version")
    if len(key) != 32:
        raise CryptoError(zh="披露的密钥应为 32 字节", en="a disclosed box key is 32 bytes")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise CryptoError(
            zh="披露的密钥打不开这份密文：密钥不对，或密文已被篡改",
            en="the disclosed key does not open this box: a wrong key, or the box was altered",
        ) from None


def pair_key(own_box_private: bytes, peer_box_public: bytes, purpose: bytes) -> bytes:
    """A 32-byte key only this pair of X25519 keys can compute (static ECDH, then HKDF), for ``purpose``.

    Either side gets the same key: the info binds both public keys in a fixed order.
    """
    try:
        own_public, shared = _static_secret(own_box_private, peer_box_public)
    except ValueError:  # a low-order point (all-zero secret) or not 32 bytes
        raise CryptoError(zh="对方的加密公钥不可用", en="the other side's box key is not usable") from None
    low, high = sorted((own_public, peer_box_public))
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose + low + high).derive(shared)


@functools.lru_cache(maxsize=1024)
def _static_secret(own_box_private: bytes, peer_box_public: bytes) -> tuple[bytes, bytes]:
    """(own public key, the pair's X25519 secret): two scalar multiplications, made once per pair while the
    process runs (a hub opens every set of a station's backlog with the same pair; a county has 395)."""
    private = X25519PrivateKey.from_private_bytes(own_box_private)
    return private.public_key().public_bytes_raw(), private.exchange(X25519PublicKey.from_public_bytes(peer_box_public))


class _Wrapped(msgspec.Struct, frozen=True):
    v: int
    salt: bytes
    n: int
    nonce: bytes
    ct: bytes


_WRAP_AAD = b"proxyapp/station-private-keys/v1"


def wrap_private(secret: bytes, passphrase: str, *, n: int = 2**15) -> bytes:
    """Encrypt private key material under a passphrase: scrypt (n=2^15, ~0.1 s) then AES-GCM.

    PEM's built-in encryption uses PBKDF2 with 2,048 iterations, too weak for a human passphrase.
    """
    salt, nonce = os.urandom(16), os.urandom(12)
    kek = Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode())
    ct = AESGCM(kek).encrypt(nonce, secret, _WRAP_AAD)
    return msgspec.msgpack.encode(_Wrapped(1, salt, n, nonce, ct))


def unwrap_private(blob: bytes, passphrase: str) -> bytes:
    """The secret :func:`wrap_private` wrapped; CryptoError for a wrong passphrase."""
    return unwrap_private_key(blob, passphrase)[0]


def unwrap_private_key(blob: bytes, passphrase: str) -> tuple[bytes, bytes]:
    """(the secret :func:`wrap_private` wrapped, the key that wraps it): with that key,
    :func:`rewrap_private` writes new secret material under the same passphrase without asking for
    it again (a station's key rotation). CryptoError for a wrong passphrase."""
    try:
        wrapped = msgspec.msgpack.decode(blob, type=_Wrapped)
    except msgspec.DecodeError:
        raise CryptoError(zh="密钥文件已损坏", en="the key file is damaged") from None
    kek = Scrypt(salt=wrapped.salt, length=32, n=wrapped.n, r=8, p=1).derive(passphrase.encode())
    try:
        return AESGCM(kek).decrypt(wrapped.nonce, wrapped.ct, _WRAP_AAD), kek
    except InvalidTag:
        raise CryptoError(
            zh="本站密钥口令错误",
            en="wrong passphrase for the station key",
            code="crypto.passphrase",
            field="passphrase",
        ) from None


def rewrap_private(blob: bytes, kek: bytes, secret: bytes) -> bytes:
    """``secret`` wrapped as ``blob`` was (same salt and cost, so the same passphrase opens it), under
    the key :func:`unwrap_private_key` gave for it, with a fresh nonce."""
    try:
        wrapped = msgspec.msgpack.decode(blob, type=_Wrapped)
    except msgspec.DecodeError:
        raise CryptoError(zh="密钥文件已损坏", en="the key file is damaged") from None
    nonce = os.urandom(12)
    ct = AESGCM(kek).encrypt(nonce, secret, _WRAP_AAD)
    return msgspec.msgpack.encode(_Wrapped(1, wrapped.salt, wrapped.n, nonce, ct))
