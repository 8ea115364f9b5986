"""Who sent a county's request or upstream file: its signatures checked with the county's keys before a byte is decoded."""

from __future__ import annotations

from hub.province import UpstreamRefused, signed_key
from hub.store import HubStore
from hub.upstream_link import FILE_SIGNED_PATH, UpstreamFile, decode_upstream_request
from sync.crypto import verify
from sync.protocol.upstream import (
    CTX_COUNTY_REQUEST,
    UpstreamRequest,
    county_request_message,
    county_request_signatures,
)

__all__ = ("check_signer", "county_signer", "open_upstream_file")


def county_signer(store: HubStore, county: str | None, signatures: str | None, path: str, body: bytes) -> str | None:
    """The county whose hub key signed ``body`` at ``path`` (``X-County`` and ``X-County-Signature``, or an
    upstream file's header lines), or None for an unsigned one (a county of an earlier release).

    Raises:
        UpstreamRefused: ``unknown_county`` (403) for a county not enrolled here, ``unauthenticated`` (401)
            for signatures none of which verifies under a key the county enrolled with and has not had revoked.
    """
    if county is None and signatures is None:
        return None
    row = store.county(county[:16]) if county else None
    if row is None or row["enrolled_at"] is None:
        raise UpstreamRefused(
            "unknown_county", zh="该县未在本省登记", en="the county this request names is not enrolled here"
        )
    if row["revoked_at"] is not None:
        return str(row["county"])  # no key of it counts: the ingest refuses it as revoked, reading no set
    keys = [bytes(k["sign_public"]) for k in store.county_keys(row["county"]) if k["revoked_at"] is None]
    message = county_request_message(path, body)
    if not any(
        verify(key, CTX_COUNTY_REQUEST, message, signature)
        for signature in county_request_signatures(signatures or "")
        for key in keys
    ):
        raise UpstreamRefused(
            "unauthenticated",
            zh="上报内容的签名无效：不是该县平台的密钥签发的，未读取",
            en="the signature does not verify under the county's key; nothing of it was read",
        )
    return str(row["county"])


def check_signer(store: HubStore, signer: str | None, county: str) -> None:
    """A signed request or file must name the county that signed it; once a county is known to sign (its first
    signed one, or its enrolment said so: hub.province.enrol_county), an unsigned one in its name is refused
    (nobody on the wire or with the stick can take its signature off).

    Raises:
        UpstreamRefused: ``wrong_origin`` (403), ``unauthenticated`` (401).
    """
    if signer is not None:
        if county != signer:
            raise UpstreamRefused(
                "wrong_origin",
                zh="上报内容与签名的县不符",
                en="the body names another county than the one that signed it",
            )
        if store.get_meta(signed_key(county)) != "1":
            with store.transaction():
                store.set_meta(signed_key(county), "1")
    elif store.get_meta(signed_key(county)) == "1":
        raise UpstreamRefused(
            "unauthenticated",
            zh="上报内容没有签名，而该县此前的上报（请求或文件）已有签名：未读取",
            en="it is not signed, though this county's earlier requests or files were; nothing of it was read",
        )


def open_upstream_file(store: HubStore, upstream_file: UpstreamFile) -> UpstreamRequest:
    """An upstream file's request, its signature checked with the county's keys before its body is decoded, as an
    HTTP request's is; an unsigned file only from a county that has never signed.

    Raises:
        UpstreamRefused: as :func:`county_signer` and :func:`check_signer`.
        ProtocolError: ``malformed``, ``too_large`` (a body that does not decode).
    """
    signer = county_signer(store, upstream_file.county, upstream_file.signatures, FILE_SIGNED_PATH, upstream_file.body)
    request = decode_upstream_request(upstream_file.body)
    check_signer(store, signer, request.county)
    return request
