"""Scanned pages on a USB stick: the pages the hub does not hold, sealed in chunks, in parts beside the up file."""

from __future__ import annotations

from pathlib import Path

import msgspec

from station.errors import TransferError
from station.fsutil import atomic_write
from station.identity import require_pins
from station.scans.store import REFUSED
from station.store import Station
from station.store.db import write_txn
from sync.crypto import KeyPair
from sync.protocol import PROTOCOL_VERSION, ScanFile, ScanPut, scan_part_paths, seal_chunk
from sync.protocol.scans import MAX_CHUNK, SCAN_PART_BYTES

__all__ = ("export_scans",)

# Pages whose record is in a sealed set (the file beside carries it, or the hub holds it already) and
# that the hub has not said it holds whole (and the county did not refuse): from where the hub last said
# it stands.
_TO_CARRY = (
    "SELECT b.sha256, b.size, b.hub_held FROM scan_blobs b "
    "WHERE b.acked_at IS NULL AND b.data IS NOT NULL AND EXISTS ("
    "SELECT 1 FROM attachments a JOIN outbox o ON o.entity = 'attachments' AND o.entity_id = a.attachment_id "
    f"WHERE a.sha256 = b.sha256 AND a.dropped = 0 AND o.set_seq IS NOT NULL AND NOT {REFUSED}) "
    "ORDER BY b.stored_at, b.sha256"
)


def export_scans(station: Station, path: Path | str, keys: KeyPair) -> list[Path]:
    """Write ``PATH.scans-1``, ``-2``, … (each at most 8 MiB) beside the up file ``path``; returns them.

    Parts of an earlier export beside it are removed first (what they held is in the new ones, or the hub
    has it). The pages are marked on their way: the station asks the hub where each stands at its next
    contact online before sending any of it, and the hub takes a chunk it holds already as nothing new.
    """
    pins = require_pins(station.db)
    path = Path(path)
    for old in scan_part_paths(path):
        old.unlink(missing_ok=True)
    parts: list[list[ScanPut]] = [[]]
    size = 0
    for sha, total, held in station.db.execute(_TO_CARRY).fetchall():
        digest = bytes.fromhex(sha)
        for offset in range(held, total, MAX_CHUNK):
            data = station.db.execute(
                "SELECT substr(data, ?, ?) FROM scan_blobs WHERE sha256 = ?", [offset + 1, MAX_CHUNK, sha]
            ).fetchone()[0]
            sealed = seal_chunk(
                bytes(data),
                station_id=station.station_id,
                sha256=digest,
                offset=offset,
                station_box_private=keys.box_private,
                hub_box_public=pins.box_public,
            )
            if parts[-1] and size + len(sealed) > SCAN_PART_BYTES:
                parts.append([])
                size = 0
            parts[-1].append(ScanPut(PROTOCOL_VERSION, digest, offset, sealed))
            size += len(sealed)
    written = []
    for number, chunks in enumerate((p for p in parts if p), 1):
        target = path.with_name(f"{path.name}.scans-{number}")
        body = msgspec.msgpack.encode(
            ScanFile(protocol=PROTOCOL_VERSION, station_id=station.station_id, part=number, chunks=chunks)
        )
        try:
            atomic_write(target, body)
        except OSError as exc:
            raise TransferError(
                zh=f"无法写入 {target}：{exc.strerror or exc}",
                en=f"cannot write {target}: {exc.strerror or exc}",
                field="file",
            ) from None
        written.append(target)
    if written:
        # On their way by hand: the next round online asks the hub where each page stands before it sends
        # any of it (station.link.scans), so what the stick carried does not cross the link again.
        with write_txn(station.db):
            for sha in {put.sha256.hex() for chunks in parts for put in chunks}:
                station.db.execute("UPDATE scan_blobs SET in_flight = 1 WHERE sha256 = ?", [sha])
    return written
