"""Read a W&B offline run (`run-*.wandb`) back, for tests.

The file is a LevelDB-style record log: a 7-byte header (`:W&B`, magic, version), then
32 KiB blocks of records, each `crc32c(4) length(2, little-endian) type(1) data`, where a
record too long for its block is split FIRST/MIDDLE/LAST. Each full record is a
`wandb.proto.wandb_internal_pb2.Record`. (The SDK's own Python reader moved into its Go core.)
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> list[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run log"
    out: list[bytes] = []
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < 7:
            pos += left_in_block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        if kind == FULL:
            out.append(chunk)
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            out.append(pending + chunk)
            pending = b""
    return out


@dataclass
class OfflineRun:
    project: str = ""
    entity: str = ""
    run_id: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def read_offline_run(run_dir: Path) -> OfflineRun:
    import wandb
    from wandb.proto import wandb_internal_pb2 as pb

    # wandb-core writes the log after `run.finish()` returns (it was seen holding only its
    # header); shutting the service down flushes and closes it
    wandb.teardown()
    (log,) = run_dir.glob("run-*.wandb")
    run = OfflineRun()
    for raw in records(log):
        record = pb.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.project, run.entity, run.run_id = record.run.project, record.run.entity, record.run.run_id
            run.config.update({i.key: json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            run.config.update({i.key: json.loads(i.value_json) for i in record.config.update})
        elif kind == "summary":
            run.summary.update({i.key: json.loads(i.value_json) for i in record.summary.update})
        elif kind == "files":
            run.files.extend(f.path for f in record.files.files)
    return run
