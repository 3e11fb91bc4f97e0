"""Anchors of the audit chains outside the database: signed checkpoints, the check that every
chain still extends them, and the check of an acceptance's audit reference on a certificate.

The chain's hashes need no secret, so someone who can write to the database can edit an event
and recompute every later hash and the head, or cut the chain short, and the chain alone still
verifies. A checkpoint fixes each organisation's (seq, hash) at a moment, in a file outside the
database (and an e-mail), under an HMAC whose key the database never holds: a later chain must
hold exactly that hash at that seq, which a rewritten, reordered, truncated or deleted chain
cannot (short of a SHA-256 collision).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import (
    Acceptance,
    AuditCheckpoint,
    AuditEvent,
    AuditHead,
    AuditVerification,
    Organisation,
)
from app.services.audit import ChainReport, canonical, chain_hash

FORMAT = "cpm-audit-checkpoint/1"
SIGNATURE = "hmac_sha256"
MIN_KEY_LENGTH = 32
# Long enough that finding another event with the same prefix is out of reach, short enough
# to read off paper.
PRINTED_HASH_LENGTH = 12
MIN_PRINTED_HASH_LENGTH = 8


class AnchorKeyError(Exception):
    """AUDIT_ANCHOR_KEY is missing, too short, or the same as SECRET_KEY."""


def anchor_key(value: str, secret_key: str) -> bytes:
    """The checkpoint key, refused if a forger could know or guess it."""
    if not value:
        raise AnchorKeyError("AUDIT_ANCHOR_KEY is not set")
    if len(value) < MIN_KEY_LENGTH:
        raise AnchorKeyError(f"AUDIT_ANCHOR_KEY must be at least {MIN_KEY_LENGTH} characters")
    if hmac.compare_digest(value.encode(), secret_key.encode()):
        raise AnchorKeyError("AUDIT_ANCHOR_KEY must differ from SECRET_KEY")
    return value.encode()


# -- the checkpoint file ---------------------------------------------------------------------


def canonical_checkpoint(body: dict[str, Any]) -> bytes:
    """What the HMAC covers: the checkpoint without its signature, as sorted compact JSON."""
    unsigned = {k: v for k, v in body.items() if k != SIGNATURE}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(body: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical_checkpoint(body), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChainEnd:
    organisation_id: int
    name: str
    seq: int
    hash: str
    last_event_at: datetime | None


def chain_ends(session: Session) -> list[ChainEnd]:
    """Each organisation's head: its seq, its hash, and when its latest event happened."""
    rows = session.execute(
        select(AuditHead, Organisation.name, AuditEvent.occurred_at)
        .join(Organisation, Organisation.id == AuditHead.organisation_id)
        .outerjoin(
            AuditEvent,
            (AuditEvent.organisation_id == AuditHead.organisation_id)
            & (AuditEvent.seq == AuditHead.seq),
        )
        .order_by(AuditHead.organisation_id)
    )
    return [ChainEnd(h.organisation_id, name, h.seq, h.hash, at) for h, name, at in rows]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def checkpoint_body(ends: Sequence[ChainEnd], taken_at: datetime, key: bytes) -> dict[str, Any]:
    body: dict[str, Any] = {
        "format": FORMAT,
        "taken_at": _iso(taken_at),
        "organisations": [
            {
                "organisation_id": end.organisation_id,
                "name": end.name,
                "seq": end.seq,
                "hash": end.hash,
                "last_event_at": _iso(end.last_event_at) if end.last_event_at else None,
            }
            for end in ends
        ],
    }
    body[SIGNATURE] = sign(body, key)
    return body


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    taken_at: datetime
    ends: list[ChainEnd]
    text: str


def _write_new(directory: Path, stem: str, text: str) -> Path:
    """Create a new file, never replacing one (storage with a retention lock would refuse)."""
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100):
        path = directory / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
        try:
            with path.open("x", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"{directory / stem}.json and 98 more exist")


def unchanged_since(
    session: Session, ends: Sequence[ChainEnd], directory: Path, emailed_to: str | None
) -> AuditCheckpoint | None:
    """The latest checkpoint, if it holds exactly these chain ends, its file is still in
    `directory` and it was e-mailed to `emailed_to` (when that is set): nothing new to
    anchor, so a second run started at the same moment as the one that took it writes no
    second file. None otherwise."""
    latest = session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).first()
    if latest is None or not ends or not (directory / latest.file_name).is_file():
        return None
    rows = session.scalars(
        select(AuditCheckpoint).where(
            AuditCheckpoint.file_name == latest.file_name,
            AuditCheckpoint.taken_at == latest.taken_at,
        )
    ).all()
    held = {(r.organisation_id, r.seq, r.hash) for r in rows}
    if held != {(e.organisation_id, e.seq, e.hash) for e in ends}:
        return None
    if emailed_to and any(r.emailed_to != emailed_to for r in rows):
        return None  # that one's e-mail failed: this run sends one
    return latest


def take_checkpoint(
    session: Session,
    key: bytes,
    directory: Path,
    now: datetime,
    ends: Sequence[ChainEnd] | None = None,
) -> Checkpoint:
    """Write every organisation's chain end (`ends`, if already read) to a new signed file
    in the directory."""
    ends = list(chain_ends(session) if ends is None else ends)
    body = checkpoint_body(ends, now, key)
    text = json.dumps(body, indent=2, ensure_ascii=False) + "\n"
    stem = f"audit-checkpoint-{now.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"
    return Checkpoint(_write_new(directory, stem, text), now, ends, text)


def record_checkpoint(session: Session, checkpoint: Checkpoint, emailed_to: str | None) -> None:
    """Note in the database that the checkpoint was taken, for HR's pages."""
    session.add_all(
        AuditCheckpoint(
            organisation_id=end.organisation_id,
            seq=end.seq,
            hash=end.hash,
            taken_at=checkpoint.taken_at,
            file_name=checkpoint.path.name,
            emailed_to=emailed_to,
        )
        for end in checkpoint.ends
    )
    session.flush()


# -- checking the chains against checkpoints -------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """Something wrong, named by organisation and seq where the checkpoint gives them."""

    file: str
    problem: str
    organisation_id: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = "checkpoints"
        if self.organisation_id is not None:
            where = f"organisation {self.organisation_id}"
            if self.seq is not None:
                where += f" at seq {self.seq}"
        return f"{where}: {self.problem} (checkpoint {self.file})"


@dataclass(frozen=True)
class Anchor:
    """One organisation's entry in a checkpoint whose signature is good."""

    file: str
    taken_at: str
    organisation_id: int
    seq: int
    hash: str


@dataclass
class CheckpointResult:
    files: int = 0
    anchors: list[Anchor] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


def _claimed(body: Any) -> list[tuple[int | None, int | None]]:
    """The organisations and seqs an untrusted checkpoint claims, to name them in a finding."""
    try:
        return [(int(o["organisation_id"]), int(o["seq"])) for o in body["organisations"]]
    except (KeyError, TypeError, ValueError):
        return [(None, None)]


def _read(path: Path, key: bytes, result: CheckpointResult) -> None:
    name = path.name
    result.files += 1
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        result.findings.append(Finding(name, f"cannot be read as a checkpoint ({exc})"))
        return
    given = body.get(SIGNATURE) if isinstance(body, dict) else None
    if not isinstance(given, str) or not hmac.compare_digest(given, sign(body, key)):
        for org, seq in _claimed(body):
            result.findings.append(
                Finding(name, "its HMAC does not match: forged or altered, not trusted", org, seq)
            )
        return
    if body.get("format") != FORMAT:
        result.findings.append(Finding(name, f"unknown format {body.get('format')!r}"))
        return
    for entry in body["organisations"]:
        result.anchors.append(
            Anchor(
                name,
                body["taken_at"],
                int(entry["organisation_id"]),
                int(entry["seq"]),
                str(entry["hash"]),
            )
        )


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.suffix == ".json") if path.is_dir() else [path]


def check_checkpoints(session: Session, path: Path, key: bytes) -> CheckpointResult:
    """Does every organisation's chain still extend every checkpoint at `path`?

    Together with audit.verify (each event hashes its content and the hash before it, and the
    head is the chain's end), the event at a checkpoint's seq having the checkpoint's hash
    means the whole chain up to there is as it was when the checkpoint was taken.
    """
    result = CheckpointResult()
    files = _files(path)
    for file in files:
        _read(file, key, result)
    if not files:
        result.findings.append(Finding(str(path), "no checkpoint files found"))
    if path.is_dir():
        # A checkpoint the database says was taken must be there (retention-locked storage
        # keeps them; one gone is a warning that the anchors themselves were tampered with).
        present = {f.name for f in files}
        for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
            if row.file_name not in present:
                result.findings.append(
                    Finding(
                        row.file_name,
                        f"recorded as taken on {_iso(row.taken_at)} but missing from {path}",
                        row.organisation_id,
                        row.seq,
                    )
                )
    heads = {h.organisation_id: h for h in session.scalars(select(AuditHead))}
    for anchor in result.anchors:
        problem = _extends(session, heads.get(anchor.organisation_id), anchor)
        if problem:
            result.findings.append(
                Finding(anchor.file, problem, anchor.organisation_id, anchor.seq)
            )
    return result


def _extends(session: Session, head: AuditHead | None, anchor: Anchor) -> str | None:
    if anchor.seq == 0:
        return None
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.organisation_id == anchor.organisation_id, AuditEvent.seq == anchor.seq
        )
    ).first()
    if head is None and event is None:
        return f"the chain was deleted: the checkpoint of {anchor.taken_at} holds it at this seq"
    if head is None or head.seq < anchor.seq:
        at = head.seq if head is not None else "none"
        return (
            f"the chain's head is at seq {at}, behind the checkpoint of {anchor.taken_at}: "
            "the chain was cut short or its head moved back"
        )
    if event is None:
        return f"the event the checkpoint of {anchor.taken_at} holds is missing"
    if event.hash != anchor.hash:
        return (
            f"the event's hash {event.hash[:PRINTED_HASH_LENGTH]} is not the "
            f"{anchor.hash[:PRINTED_HASH_LENGTH]} of the checkpoint of {anchor.taken_at}: "
            "the chain up to here was rewritten"
        )
    return None


def record_verification(
    session: Session,
    reports: Iterable[ChainReport],
    checked: CheckpointResult | None,
    now: datetime,
) -> list[AuditVerification]:
    """One row per organisation: what this verify run found, for HR's pages."""
    findings = checked.findings if checked else []
    general = [str(f) for f in findings if f.organisation_id is None]
    by_org = {r.organisation_id: r for r in reports}
    orgs = sorted(set(by_org) | {f.organisation_id for f in findings if f.organisation_id})
    rows = []
    for org in orgs:
        report = by_org.get(org)
        problems = [report.problem] if report and report.problem else []
        problems += [str(f) for f in findings if f.organisation_id == org] + general
        rows.append(
            AuditVerification(
                organisation_id=org,
                ran_at=now,
                ok=not problems,
                events=report.events if report else 0,
                checkpoints=sum(1 for a in checked.anchors if a.organisation_id == org)
                if checked
                else 0,
                problem="\n".join(problems) or None,
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


# -- what HR sees ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorStatus:
    latest_checkpoint: AuditCheckpoint | None
    last_verification: AuditVerification | None
    last_against_checkpoints: AuditVerification | None


def anchor_status(session: Session, organisation_id: int) -> AnchorStatus:
    def latest(model: Any, *where: Any) -> Any:
        return session.scalars(
            select(model)
            .where(model.organisation_id == organisation_id, *where)
            .order_by(model.id.desc())
            .limit(1)
        ).first()

    return AnchorStatus(
        latest(AuditCheckpoint),
        latest(AuditVerification),
        latest(AuditVerification, AuditVerification.checkpoints > 0),
    )


# -- an acceptance's audit reference, as printed on its certificate --------------------------


def looks_like_hash_prefix(text: str) -> bool:
    """What a person may type for the printed hash: hex, at least MIN_PRINTED_HASH_LENGTH."""
    cleaned = text.strip().lower()
    return MIN_PRINTED_HASH_LENGTH <= len(cleaned) <= 64 and all(
        c in "0123456789abcdef" for c in cleaned
    )


def printed_reference(acceptance: Acceptance) -> tuple[int, str] | None:
    """(seq, hash prefix) as the certificate and confirmation page print them."""
    if acceptance.audit_seq is None or acceptance.audit_hash is None:
        return None
    return acceptance.audit_seq, acceptance.audit_hash[:PRINTED_HASH_LENGTH]


@dataclass(frozen=True)
class CertificateCheck:
    # None: the acceptance predates audit references (older certificates do not print one).
    seq: int | None
    hash: str | None
    seq_matches: bool | None  # None: no seq was given to compare
    hash_matches: bool | None
    event_found: bool
    event_is_this_acceptance: bool
    event_hash_matches: bool
    content_matches: bool

    @property
    def has_reference(self) -> bool:
        return self.seq is not None

    @property
    def trail_agrees(self) -> bool:
        return (
            self.event_found
            and self.event_is_this_acceptance
            and self.event_hash_matches
            and (self.content_matches)
        )

    @property
    def ok(self) -> bool:
        if not self.has_reference:
            return True
        return (
            self.trail_agrees and self.seq_matches is not False and (self.hash_matches is not False)
        )


ACCEPTANCE_ACTIONS = ("acceptance", "acceptance_recorded_by_hr")


def check_certificate(
    session: Session, acceptance: Acceptance, seq: int | None, hash_prefix: str | None
) -> CertificateCheck:
    """Do the acceptance, the audit event at its seq and that event's recomputed hash agree,
    and with the seq and hash prefix printed on the copy (when given)?"""
    prefix = (hash_prefix or "").strip().lower() or None
    if acceptance.audit_seq is None or acceptance.audit_hash is None:
        return CertificateCheck(None, None, None, None, False, False, False, False)
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.organisation_id == acceptance.organisation_id,
            AuditEvent.seq == acceptance.audit_seq,
        )
    ).first()
    return CertificateCheck(
        seq=acceptance.audit_seq,
        hash=acceptance.audit_hash,
        seq_matches=None if seq is None else seq == acceptance.audit_seq,
        hash_matches=None
        if prefix is None
        else len(prefix) >= MIN_PRINTED_HASH_LENGTH and acceptance.audit_hash.startswith(prefix),
        event_found=event is not None,
        event_is_this_acceptance=event is not None
        and event.action in ACCEPTANCE_ACTIONS
        and event.subject_person_id == acceptance.person_id
        and (event.details or {}).get("acceptance") == acceptance.id,
        event_hash_matches=event is not None and event.hash == acceptance.audit_hash,
        content_matches=event is not None
        and chain_hash(event.prev_hash, canonical(event)) == event.hash,
    )
