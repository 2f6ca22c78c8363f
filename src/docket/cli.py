"""The command line: each command a few lines over the library. Errors are printed in one place."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from docket import __version__, scope, search, similarity
from docket._cli_common import (
    json_line,
    locker_option,
    open_locker,
    print_json,
    print_json_line,
)
from docket._cli_store import resumed_line
from docket._terminal import progress_for_terminal
from docket.analyse.batch import analyse, unanalysed
from docket.case_analysis import repeat_missing
from docket.catalogue import queries
from docket.custody import ledger, log
from docket.errors import DocketError, disk_full_error, is_disk_full
from docket.ingest import collection
from docket.ingest.run import IngestOptions, IngestSummary, Outcome, ingest
from docket.item_filters import ItemFilter
from docket.locker import Locker, default_actor, default_path
from docket.names import one_line
from docket.protect import approval, flags
from docket.vault import unlocking
from docket.verify import verify

# Commands kept in modules of their own, by name: "module:attribute".
ELSEWHERE = {
    "aids": "docket._cli_aids:aids_command",
    "annotate": "docket._cli_review:annotate_command",
    "approve": "docket._cli_protect:approve_command",
    "audit-copies": "docket._cli_copies:audit_command",
    "capture": "docket._cli_capture:capture_command",
    "case": "docket._cli_review:case_group",
    "check": "docket._cli_disclose:check_command",
    "export": "docket._cli_disclose:export_command",
    "flag": "docket._cli_protect:flag_command",
    "gc": "docket._cli_store:gc_command",
    "import": "docket._cli_disclose:import_command",
    "incident": "docket._cli_incidents:incident_group",
    "jobs": "docket._cli_jobs:jobs_group",
    "key": "docket._cli_disclose:key_command",
    "lock": "docket._cli_vault:lock_command",
    "member": "docket._cli_web:member_group",
    "redact": "docket._cli_protect:redact_command",
    "repair": "docket._cli_copies:repair_command",
    "replicate": "docket._cli_copies:replicate_command",
    "restore": "docket._cli_copies:restore_command",
    "reveal": "docket._cli_protect:reveal_command",
    "search": "docket._cli_review:search_command",
    "serve": "docket._cli_web:serve_command",
    "shadow-places": "docket._cli_shadow:shadow_places_command",
    "status": "docket._cli_review:status_command",
    "strip": "docket._cli_protect:strip_command",
    "tag": "docket._cli_review:tag_command",
    "timestamp": "docket._cli_disclose:timestamp_command",
    "unlock": "docket._cli_vault:unlock_command",
    "user": "docket._cli_web:user_group",
    "vault": "docket._cli_vault:vault_group",
    "wacz-key": "docket._cli_capture:wacz_key_command",
    "worker": "docket._cli_jobs:worker_command",
}


class CommandsOnDemand(click.Group):
    """The commands of ELSEWHERE are imported when run (or listed by --help), not when the
    program starts: importing every command's modules (export, the web app, copies, jobs)
    took a third of a second of every command's start."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *ELSEWHERE})

    def get_command(self, ctx: click.Context | None, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in ELSEWHERE:
            module, attribute = ELSEWHERE[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), cmd_name)
        return self.commands.get(cmd_name)


@click.group(cls=CommandsOnDemand)
@click.version_option(__version__, prog_name="docket")
def cli() -> None:
    """Docket: an evidence locker that keeps originals intact and proves their custody."""


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path), required=False)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    help="Keep blobs in an S3 bucket with Object Lock: s3://BUCKET/PREFIX?endpoint=...&region=... "
    "(credentials from the AWS environment or ~/.aws, never stored in the locker).",
)
@click.option(
    "--retention-days",
    type=int,
    metavar="N",
    help="With --store: lock each blob (compliance mode) for N days; nobody can delete it sooner.",
)
@click.option(
    "--vault",
    is_flag=True,
    help="Encrypt everything at rest (blobs, catalogue, signing key) under a passphrase from "
    "the file named by DOCKET_PASSPHRASE_FILE, else typed twice; a recovery key is shown once.",
)
def init(
    directory: Path | None, store_url: str | None, retention_days: int | None, vault: bool
) -> None:
    """Create a locker in DIRECTORY (default: $DOCKET_LOCKER, else ./locker)."""
    path = directory or default_path()
    passphrase = unlocking.new_passphrase(f"the vault {path}") if vault else None
    with Locker.create(
        path, store_url=store_url, retention_days=retention_days, vault_passphrase=passphrase
    ) as locker:
        click.echo(f"created locker {locker.locker_id} in {path}")
        if locker.recovery_key is not None:
            click.echo("a vault: everything in it is encrypted; it opens with your passphrase")
            click.echo(f"recovery key (shown only now): {locker.recovery_key}")
            click.echo(
                "write it down and keep it offline, away from this computer: it opens the "
                "vault if the passphrase is lost"
            )
        if "store" in locker.config:
            store = locker.config["store"]
            click.echo(f"blobs in {store['url']}, each locked for {store['retention_days']} day(s)")
        click.echo(f"public key: {locker.public_key.hex()}")


def _outcome_line(outcome: Outcome) -> str:
    """One printable line (names.one_line): a name is text its sender chose."""
    if outcome.status == "refused":
        return one_line(f"refused  {outcome.name}: {outcome.reason}")
    if outcome.reason is not None:
        return one_line(f"{outcome.status:<8} {outcome.name}  {outcome.sha256}: {outcome.reason}")
    return one_line(f"{outcome.status:<8} {outcome.name}  {outcome.sha256}")


# Exit codes of `docket ingest` (1 and 2 are every command's: an error, a usage error).
INGEST_SOME_REFUSED = 3
INGEST_NOTHING_STORED = 4
INGEST_EXIT_CODES = f"""\b
exit codes:
  0  every input was stored (or was already held)
  1  error: nothing after the error was stored (the message says what was kept)
  2  usage error
  {INGEST_SOME_REFUSED}  some inputs were refused (named above the summary); the rest are stored
  {INGEST_NOTHING_STORED}  nothing was stored: every input was refused, or none was found"""


def _ingest_outcome(summary: IngestSummary) -> tuple[str, int]:
    if summary.count("new") + summary.count("held") == 0:
        return "nothing stored", INGEST_NOTHING_STORED
    if summary.count("refused"):
        return "some refused, the rest stored", INGEST_SOME_REFUSED
    return "all stored", 0


def _summary_dict(summary: IngestSummary) -> dict[str, Any]:
    checkpoint = summary.checkpoint
    outcome, code = _ingest_outcome(summary)
    return {
        "type": "summary",
        "outcome": outcome,
        "exit_code": code,
        "new": summary.count("new"),
        "held": summary.count("held"),
        "refused": summary.count("refused"),
        "analysis_failed": [
            {"name": n, "step": step, "reason": r} for n, step, r in summary.analysis_failures
        ],
        "resumed": summary.resumed,
        "checkpoint": None
        if checkpoint is None
        else {
            "id": checkpoint.id,
            "tree_size": checkpoint.checkpoint.tree_size,
            "root": checkpoint.checkpoint.root.hex(),
        },
    }


@cli.command(name="ingest", epilog=INGEST_EXIT_CODES)
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--case", help="Add every item to this case (created if new).")
@click.option("--source", help="Pseudonym of the source the files came from.")
@click.option("--collector", help="Who is taking the files in (default: your user name).")
@click.option("--note", help="A note kept with each acquisition.")
@click.option("--url-of-origin", help="Where the collector got the files (a URL).")
@click.option(
    "--collected-at",
    help="When the collector got the files, ISO 8601 with offset (2026-03-01T14:05:00+02:00).",
)
@click.option(
    "--method",
    type=click.Choice(collection.METHODS),
    default="import",
    show_default=True,
    help="How the files reached the collector.",
)
@click.option(
    "--defer-analysis",
    is_flag=True,
    help="Store and read metadata only (for big card dumps that must be preserved first); "
    "previews, hashes and keyframes are made later: by `docket worker`s at once on "
    "PostgreSQL, with `docket analyse --all` on SQLite.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON Lines: one line per file as it is stored, then a summary line.",
)
@locker_option
def ingest_command(
    paths: Sequence[Path],
    case: str | None,
    source: str | None,
    collector: str | None,
    note: str | None,
    url_of_origin: str | None,
    collected_at: str | None,
    method: str,
    defer_analysis: bool,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """Preserve files, folders and zip archives as evidence items."""
    options = IngestOptions(
        collector=collector or default_actor(),
        case=case,
        source=source,
        note=note,
        method=method,
        url_of_origin=url_of_origin,
        collected_at=collected_at,
        defer_analysis=defer_analysis,
        finish_interrupted=True,
    )

    def report(outcome: Outcome) -> None:
        if as_json:
            print_json_line({"type": "file", **outcome.__dict__})
            sys.stdout.flush()

    with open_locker(locker_path) as locker:
        summary = ingest(
            locker,
            [os.fsencode(p) for p in paths],
            options,
            report,
            None if as_json else progress_for_terminal(),
            None if as_json else progress_for_terminal("analysis", by_bytes=False),
        )
    data = _summary_dict(summary)
    if as_json:
        print_json_line(data)
        raise SystemExit(data["exit_code"])
    for outcome in summary.outcomes:
        if outcome.status == "refused" or outcome.reason is not None:
            click.echo(_outcome_line(outcome))
    for name, step, reason in summary.analysis_failures:
        click.echo(f"held, {step} failed  {name}: {reason}")
    if summary.resumed:
        click.echo(resumed_line(summary.resumed))
    click.echo(
        f"{data['new']} new, {data['held']} already held, {data['refused']} refused, "
        f"{len(data['analysis_failed'])} analysis steps failed; checkpoint "
        f"{data['checkpoint']['id']} at tree size {data['checkpoint']['tree_size']}; "
        f"{data['outcome']} (exit {data['exit_code']})"
    )
    raise SystemExit(data["exit_code"])


@cli.command(name="ls")
@click.option("--case", help="Only items in this case.")
@click.option(
    "--search",
    "text",
    help="Only items these words find (in the case's names, notes, sources, tags, annotations, "
    "incidents, and metadata).",
)
@click.option(
    "--flag", type=click.Choice([*flags.FLAGS, flags.UNREVIEWED]), help="Only items flagged so."
)
@click.option("--type", "media_type", help="Only this media type or its start (image/, video/).")
@click.option("--since", metavar="YYYY-MM-DD", default="", help="Only items captured on or after.")
@click.option("--until", metavar="YYYY-MM-DD", default="", help="Only items captured on or before.")
@click.option("--has-gps", is_flag=True, help="Only items whose metadata gives a position.")
@click.option("--group", type=click.IntRange(1), help="Only near-duplicate group N (c N).")
@click.option("--json", "as_json", is_flag=True)
@locker_option
def ls_command(
    case: str | None,
    text: str | None,
    flag: str | None,
    media_type: str | None,
    since: str,
    until: str,
    has_gps: bool,
    group: int | None,
    as_json: bool,
    locker_path: Path | None,
) -> None:
    """List items, with their safe preview and near-duplicate group. Capture dates are the
    camera's local dates; an item whose capture time is unknown is left out by --since/--until."""
    narrowing = ItemFilter(media_type or "", flag or "", has_gps, since, until, group)
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        rows = queries.list_items(conn, case)
        if text is not None:
            shas = [row["sha256"] for row in rows]
            found = set(search.find_in_locker(conn, shas, text, case))
            rows = [row for row in rows if row["sha256"] in found]
        cluster_of = {sha: c.number for c in similarity.clusters(conn, case) for sha in c.items}
        for row in rows:
            preview = queries.derivative_paths(conn, row["sha256"]).get("safe_preview")
            row["safe_preview"] = None if preview is None else locker.store.shown_path(preview)
            row["cluster"] = cluster_of.get(row["sha256"])
            view = scope.for_locker(conn, row["sha256"], case, choose=False)
            row["flag"] = flags.current_flag(conn, row["sha256"], view)
        if narrowing.narrows:
            flag_of = {row["sha256"]: row["flag"] for row in rows}
            rows = narrowing.apply(conn, rows, flag_of, case)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        cluster = f"c{row['cluster']}" if row["cluster"] else "-"
        click.echo(
            f"{row['sha256'][:12]}  {row['media_type']:<20} {row['size']:>11}  "
            f"{cluster:<5} {row['flag']:<10} {one_line(row['name'])}"
        )


@cli.command()
@click.argument("item_id")
@click.option("--json", "as_json", is_flag=True)
@click.option("--raw", is_flag=True, help="Print ExifTool's full record.")
@click.option("--case", help="Show it as this case holds it (its records and flag only).")
@locker_option
def show(
    item_id: str, as_json: bool, raw: bool, case: str | None, locker_path: Path | None
) -> None:
    """Show one item (ID: a unique prefix of its SHA-256): its facts, its verification aids'
    signals (one line each) and, for a part of a web capture, all the capture's parts."""
    from docket.aids.capture_parts import captures_of
    from docket.aids.results import aid_results

    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id)
        view = scope.for_locker(conn, sha256, case, choose=False)
        as_case = None if case is None else scope.export_of(conn, case)  # what the case shows
        shown = None if as_case is None else scope.event_seqs(conn, as_case, sha256)
        detail = queries.describe_item(conn, sha256, None if case is None else view.cases, shown)
        raw_text = queries.raw_metadata(conn, sha256) if raw else None
        previews = queries.derivative_paths(conn, sha256)
        safe = previews.get("safe_preview")
        detail["safe_preview"] = None if safe is None else locker.store.shown_path(safe)
        # Unblurred pictures only for items a reviewer has flagged clear; else `reveal`.
        detail["flag"] = flags.current_flag(conn, sha256, view)
        detail["thumbnail"] = (
            locker.store.shown_path(previews["thumbnail"])
            if "thumbnail" in previews and detail["flag"] == "clear"
            else None
        )
        detail["keyframes"] = [
            {"time": time, "path": locker.store.shown_path(blob)}
            for time, blob in queries.keyframes(conn, sha256)
        ]
        in_force = approval.approved(conn, sha256, view)
        detail["copies"] = [
            {
                **copy.__dict__,
                "approved": in_force is not None and in_force.derivative == copy.sha256,
            }
            for copy in approval.copies(conn, sha256, view)
        ]
        detail["verification"] = [r.as_dict() for r in aid_results(conn, sha256, as_case)]
        detail["captures"] = [
            c.as_dict() for c in captures_of(conn, sha256, None if case is None else view.cases)
        ]
        detail["cluster"] = next(
            (
                {
                    "number": c.number,
                    "items": c.items,
                    "earliest": c.earliest,
                    "decided_by": c.decided_by,
                }
                for c in similarity.clusters(conn, case)
                if sha256 in c.items
            ),
            None,
        )
    if as_json:
        print_json(detail)
    else:
        # Values a file or a person wrote: one printable line each, so a crafted EXIF field
        # neither drives the terminal nor forges a line of this output (names.one_line).
        def say(text: str) -> None:
            click.echo(one_line(text))

        for key in ("sha256", "sha512", "size", "media_type", "first_seen"):
            say(f"{key:<12} {detail[key]}")
        say(f"{'cases':<12} {', '.join(detail['cases']) or '-'}")
        say(f"{'flag':<12} {detail['flag']}")
        if detail["safe_preview"]:
            say(f"{'preview':<12} {detail['safe_preview']} (blurred)")
        elif safe is not None:  # a vault: no file on disk shows it
            say(f"{'preview':<12} sealed in the vault (blurred; `docket serve` shows it)")
        else:
            say(f"{'preview':<12} -")
        if detail["thumbnail"]:
            say(f"{'thumbnail':<12} {detail['thumbnail']} (flagged clear)")
        for run in detail["analysis"]:
            outcome = "ok" if run["status"] == "ok" else f"FAILED: {run['error']}"
            say(f"{'step':<12} {run['step']} v{run['version']}: {outcome}")
        if detail["keyframes"]:
            times = ", ".join(
                f"{k['time']:g}" for k in detail["keyframes"] if k["time"] is not None
            )
            say(f"{'keyframes':<12} {len(detail['keyframes'])} (at {times} s)")
        for copy in detail["copies"]:
            approved = ", approved for publication" if copy["approved"] else ""
            say(
                f"{'copy':<12} {copy['kind']} {copy['sha256']} "
                f"({'stripped' if copy['stripped'] else 'metadata kept'}{approved})"
            )
        if detail["copies"] and not any(copy["approved"] for copy in detail["copies"]):
            say(f"{'publication':<12} no copy approved (docket approve)")
        if detail["cluster"]:
            cluster = detail["cluster"]
            first = (
                "this is the earliest known copy"
                if cluster["earliest"] == sha256
                else (f"earliest known copy {cluster['earliest'][:12]}")
            )
            first += f" (by {cluster['decided_by']})"
            say(f"{'cluster':<12} c{cluster['number']}: {len(cluster['items'])} copies, {first}")
        for line in _aid_lines(detail["verification"]):
            say(f"{'aid':<12} {line}")
        for captured in detail["captures"]:
            say(f"{'capture':<12} of {captured['url_asked']}, parts:")
            for part in captured["parts"]:
                this = "  (this item)" if part["sha256"] == sha256 else ""
                say(
                    f"  {part['kind']:<10} {part['sha256'][:12]} {part['media_type']} "
                    f"{part['url'] or '-'} at {part['collected_at'] or '?'}{this}"
                )
        for acq in detail["acquisitions"]:
            inner = f"!/{acq['path_in_container']}" if acq["path_in_container"] else ""
            say(
                f"acquired     {acq['acquired_at']} by {acq['collector']} "
                f"from {acq['source'] or 'unknown source'} ({acq['method']}): "
                f"{acq['original_path']}{inner}"
            )
            if acq["collected_at"]:
                say(f"{'collected':<12} {acq['collected_at']}")
            if acq["url_of_origin"]:
                say(f"{'origin':<12} {acq['url_of_origin']}")
        for key, value in (detail["metadata"] or {}).items():
            if value not in (None, [], False):
                say(f"{key:<12} {value}")
    if raw_text is not None:  # JSON escapes C0 controls, not C1 (ensure_ascii=False)
        for line in raw_text.splitlines():
            click.echo(one_line(line))


def _aid_lines(results: list[dict[str, Any]]) -> list[str]:
    """One short line per aid signal (step, finding, what it found); a step not run or failed
    says so."""
    lines = []
    for result in results:
        if result["status"] == "not run":
            lines.append(f"{result['step']}: not run (docket aids runs it)")
        elif result["status"] != "ok":
            lines.append(f"{result['step']}: FAILED: {result['error']}")
        for signal in result["signals"]:
            lines.append(
                f"{result['step']}: {signal['finding']}, {signal['name']}: {signal['summary']}"
            )
    return lines


@cli.command(name="analyse")
@click.argument("item_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Every item in the locker.")
@click.option(
    "--pending",
    is_flag=True,
    help="The items an interrupted ingest or import recorded but never analysed.",
)
@click.option("--force", is_flag=True, help="Run every step again, even if already done.")
@locker_option
def analyse_command(
    item_ids: Sequence[str],
    everything: bool,
    pending: bool,
    force: bool,
    locker_path: Path | None,
) -> None:
    """Run the analysis steps an item has not had, failed before, or had in an older version."""
    if not item_ids and not everything and not pending:
        raise DocketError("give item IDs, --all or --pending")
    with open_locker(locker_path) as locker:
        with locker.engine.connect() as conn, conn.begin():
            items = None if everything else [queries.resolve_item(conn, i) for i in item_ids]
            left = unanalysed(conn) if pending else []
            if items is not None:
                items += left
        with locker.engine.connect() as conn, conn.begin():
            repeated = repeat_missing(conn)
            if repeated:
                ledger.make_checkpoint(conn, locker.signing_key, locker.origin, default_actor())
        summary = analyse(
            locker,
            items,
            default_actor(),
            force=force,
            progress=progress_for_terminal("analyse", by_bytes=False),
        )
    for item, step, reason in summary.failed:
        click.echo(f"{step} failed  {item[:12]}: {reason}")
    if left:
        click.echo(resumed_line(left))
    if repeated:
        click.echo(
            f"{repeated} arrivals in a case given their own record of the "
            "analysis their bytes had (docs/explanation/scope.md)"
        )
    click.echo(f"{len(summary.done)} steps done, {len(summary.failed)} failed")


@cli.command(name="similar")
@click.argument("item_id")
@click.option(
    "--threshold",
    type=click.IntRange(0, 256),
    default=similarity.DEFAULT_THRESHOLD,
    show_default=True,
    help="Largest Hamming distance (of 256 PDQ bits) to report.",
)
@click.option("--json", "as_json", is_flag=True)
@locker_option
def similar_command(item_id: str, threshold: int, as_json: bool, locker_path: Path | None) -> None:
    """Items whose picture, or any video keyframe, is a near-duplicate of this one's."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        matches = similarity.similar(conn, queries.resolve_item(conn, item_id), threshold)
    if as_json:
        print_json([match.__dict__ for match in matches])
        return
    for m in matches:
        at = "" if m.frame_time is None else f" at {m.frame_time:.1f}s"
        mine = "" if m.query_frame_time is None else f" (its frame at {m.query_frame_time:.1f}s)"
        click.echo(
            f"{m.item[:12]}  distance {m.distance:>3}{at}{mine}  first seen "
            f"{m.first_seen}  captured {m.capture_time or 'unknown'}"
        )
    if not matches:
        click.echo("no near-duplicates")


@cli.command(name="clusters")
@click.option("--case", help="Only items in this case.")
@click.option(
    "--threshold",
    type=click.IntRange(0, 256),
    default=similarity.DEFAULT_THRESHOLD,
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True)
@locker_option
def clusters_command(
    case: str | None, threshold: int, as_json: bool, locker_path: Path | None
) -> None:
    """Groups of near-duplicates (numbered as `ls` and `show` number them), each with its
    earliest known copy marked and the rule that decided it: capture time (as UTC when its
    offset is known), then the collector's collection time, then first arrival."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        found = similarity.clusters(conn, case, threshold)
        members = [sha for c in found for sha in c.items]
        names = {row["sha256"]: row["name"] for row in queries.list_items(conn, case, only=members)}
    if as_json:
        print_json(
            [
                {
                    "cluster": c.number,
                    "earliest": c.earliest,
                    "decided_by": c.decided_by,
                    "items": [
                        {
                            "sha256": sha,
                            "name": names[sha],
                            "first_seen": c.origins[sha].first_seen,
                            "capture_time": c.origins[sha].capture_time,
                            "collected_at": c.origins[sha].collected_at,
                        }
                        for sha in c.items
                    ],
                }
                for c in found
            ]
        )
        return
    for c in found:
        click.echo(f"cluster c{c.number}: {len(c.items)} items, earliest by {c.decided_by}")
        for sha in c.items:
            mark = "earliest" if sha == c.earliest else "        "
            origin = c.origins[sha]
            collected = f"  collected {origin.collected_at}" if origin.collected_at else ""
            click.echo(
                f"  {mark} {sha[:12]}  captured {origin.capture_time or 'unknown'}{collected}  "
                f"first seen {origin.first_seen}  {names[sha]}"
            )


@cli.command(name="log")
@click.option("--item", "item_id", help="Only events about this item.")
@click.option("--json", "as_json", is_flag=True)
@locker_option
def log_command(item_id: str | None, as_json: bool, locker_path: Path | None) -> None:
    """List custody events."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        sha256 = queries.resolve_item(conn, item_id) if item_id else None
        events = list(log.events(conn, sha256))
    for event in events:
        if as_json:
            click.echo(json_line(event.leaf().decode()))
        else:
            click.echo(
                f"{event.seq:>6}  {event.time}  {event.actor:<12} {event.action:<18} "
                f"{(event.item or '')[:12]}"
            )


@cli.command()
@click.argument("event", type=int, required=False)
@click.option(
    "--consistency",
    nargs=2,
    type=int,
    metavar="OLD NEW",
    help="A consistency proof between two checkpoints (by id).",
)
@locker_option
def prove(event: int | None, consistency: tuple[int, int] | None, locker_path: Path | None) -> None:
    """Print an inclusion proof for EVENT, or a consistency proof between checkpoints."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        if consistency:
            proof = ledger.prove_consistency(conn, locker.origin, *consistency)
            print_json(proof.as_dict(locker.public_key))
        elif event is not None:
            inclusion = ledger.prove_inclusion(conn, locker.origin, event)
            print_json(inclusion.as_dict(locker.public_key))
        else:
            raise DocketError("give an EVENT number, or --consistency OLD NEW")


@cli.command()
@click.option(
    "--if-new-events",
    is_flag=True,
    help="Only when events were logged since the newest checkpoint (besides its own): for a "
    "timer, which then adds nothing to an idle log.",
)
@locker_option
def checkpoint(if_new_events: bool, locker_path: Path | None) -> None:
    """Sign the current state of the custody log. Events after the newest checkpoint are
    covered by no signature until the next one (an older catalogue put back loses them
    unnoticed): run this on a timer as often as that matters."""
    with open_locker(locker_path) as locker, locker.engine.connect() as conn, conn.begin():
        if if_new_events:
            log.lock(conn)
            newest = ledger.latest_checkpoint(conn, locker.origin)
            # A checkpoint's own checkpoint.made event comes right after what it signed.
            if newest is not None and log.size(conn) <= newest.checkpoint.tree_size + 1:
                click.echo(f"checkpoint {newest.id} covers every event since; none made")
                return
        stored = ledger.make_checkpoint(conn, locker.signing_key, locker.origin, default_actor())
        click.echo(
            f"checkpoint {stored.id}\n{stored.checkpoint.signed_note(locker.public_key)}", nl=False
        )


@cli.command(name="verify")
@click.option("--quick", is_flag=True, help="Skip re-hashing every blob.")
@click.option("--json", "as_json", is_flag=True)
@locker_option
def verify_command(quick: bool, as_json: bool, locker_path: Path | None) -> None:
    """Recompute every hash, leaf, root and signature; name every difference."""
    try:
        with Locker.open(locker_path or default_path(), writable=False) as locker:  # no writes
            report = verify(locker, quick=quick)
            partial = locker.locked  # a locked vault: only what needs no key was checked
    except DocketError as exc:  # cannot open it: still one JSON answer for a monitor
        if not as_json:
            raise
        print_json({"ok": False, "error": str(exc), "checks": [], "problems": [], "notes": []})
        sys.exit(1)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "complete": not partial,
                "checks": [
                    {"name": c.name, "passed": c.passed, "detail": c.detail} for c in report.checks
                ],
                "problems": [{"subject": p.subject, "message": p.message} for p in report.problems],
                "notes": report.notes,
            }
        )
    else:
        for check in report.checks:
            click.echo(f"{check.label:<12} {check.name}: {check.detail}")
        for problem in report.problems:
            click.echo(f"PROBLEM      {problem}")
        for note in report.notes:
            click.echo(f"note         {note}")
        if not report.ok:
            click.echo(f"NOT verified: {len(report.problems)} problem(s)")
        elif partial:
            click.echo("verified what needs no key: no problems; unlock the vault to verify all")
        else:
            click.echo("verified: no problems")
    if not report.ok:
        sys.exit(1)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code so tests can call it directly."""
    try:
        cli.main(
            args=list(args) if args is not None else None, prog_name="docket", standalone_mode=False
        )
    except DocketError as exc:
        click.echo(f"docket: {exc}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("docket: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except SystemExit as exc:
        return int(exc.code or 0)
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        click.echo(f"docket: {disk_full_error(exc)}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
