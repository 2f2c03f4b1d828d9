"""`bibia status`: what a curator wants to know, readable in a terminal."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bibia.settings import Settings
from warehouse.db import connect, first_row

EXPORT_FILES = ("bibliotheque_ia.csv", "bibliotheque_ia.parquet", "datapackage.json")


def _age(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


def render(settings: Settings, runs: int = 10) -> str:
    con = connect(settings.db_path, read_only=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    out = [f"warehouse {settings.db_path}", "", "Last runs"]
    rows = con.execute(
        """SELECT run_id, kind, status, started_at, ended_at, fetched, new, updated,
                  quarantined, exported, error
           FROM sync_runs ORDER BY started_at DESC LIMIT ?""",
        [runs],
    ).fetchall()
    if not rows:
        out.append("  (none)")
    for run_id, kind, status, started, ended, fetched, new, updated, held, exported, error in rows:
        took = f"{(ended - started).total_seconds():.1f} s" if ended else "still running"
        line = (
            f"  {started:%Y-%m-%d %H:%M} UTC  {status:<9} {kind:<9} {took:>8}  "
            f"read {fetched or 0}, new {new or 0}, updated {updated or 0}, "
            f"exported {exported or 0}, quarantined {held or 0}  [{run_id}]"
        )
        out.append(line)
        if error:
            out.append(f"      error: {error}")
    held = con.execute(
        """SELECT submission_id, submitted_at, since_at,
                  coalesce(coll_nom, '(porteur absent)') || ' — ' ||
                  coalesce(nom_projet, '(projet absent)')
           FROM quarantine ORDER BY submitted_at"""
    ).fetchall()
    out += ["", f"Quarantine: {len(held)} submission(s) held back"]
    for submission_id, submitted_at, since_at, what in held:
        out.append(
            f"  {submission_id}  {what}  (sent {submitted_at:%Y-%m-%d}, "
            f"held since {since_at:%Y-%m-%d})"
        )
        for field, value, message in con.execute(
            """SELECT field, value, message FROM validation_issues
               WHERE submission_id = ? AND severity = 'error' ORDER BY field""",
            [submission_id],
        ).fetchall():
            shown = f" = {value!r}" if value is not None else ""
            out.append(f"      {field}{shown}: {message}")
    warnings = first_row(
        con,
        "SELECT count(*), count(DISTINCT submission_id) FROM validation_issues "
        "WHERE severity = 'warning'",
    )
    if warnings and warnings[0]:
        out.append(
            f"  (and {warnings[0]} warning(s) on {warnings[1]} submission(s), which do not hold "
            "anything back: SELECT * FROM validation_issues WHERE severity = 'warning')"
        )
    con.close()
    out += ["", f"Exports in {settings.export_dir}"]
    for access in ("public", "restricted"):
        folder = Path(settings.export_dir) / access
        stamps = [
            datetime.fromtimestamp((folder / name).stat().st_mtime, UTC).replace(tzinfo=None)
            for name in EXPORT_FILES
            if (folder / name).exists()
        ]
        if len(stamps) < len(EXPORT_FILES):
            out.append(f"  {access:<10} missing (no successful run yet)")
        else:
            newest = max(stamps)
            out.append(f"  {access:<10} written {newest:%Y-%m-%d %H:%M} UTC ({_age(newest, now)})")
    return "\n".join(out)
