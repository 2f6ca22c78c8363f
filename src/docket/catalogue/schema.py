"""Tables of the catalogue (SQLAlchemy Core, so the same schema runs on SQLite and PostgreSQL).

Hashes are lowercase hex text; times are RFC 3339 UTC text, so that what is stored is exactly
what went into the custody log and can be recomputed from it.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

metadata = MetaData()

items = Table(
    "items",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("sha512", String(128), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("first_seen", String(40), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pseudonym", String(255), nullable=False, unique=True),
)

acquisitions = Table(
    "acquisitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("acquired_at", String(40), nullable=False),
    Column("collector", String(255), nullable=False),
    Column("source_id", Integer, ForeignKey("sources.id"), nullable=True),
    Column("method", String(40), nullable=False),
    Column("original_path", Text, nullable=False),
    Column("original_path_raw", LargeBinary, nullable=False),
    Column("container_sha256", String(64), nullable=True),
    Column("path_in_container", Text, nullable=True),
    Column("path_in_container_raw", LargeBinary, nullable=True),
    Column("file_mtime", String(40), nullable=True),
    Column("note", Text, nullable=True),
    # Where and when the collector got the file (not when Docket got it): issue 13's fields.
    Column("url_of_origin", Text, nullable=True),
    Column("collected_at", String(40), nullable=True),
    # For items that came in an exported package: the package, its sender's key, and the
    # checkpoint the sender proved them against (canonical JSON).
    Column("package", Text, nullable=True),
    Column("event_seq", BigInteger, nullable=False),
    # The case this arrival was recorded into (its event says so too); NULL for none.
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
    # An item's arrivals in one case (its name and first arrival there, for every list that
    # names items): by the case alone that read every arrival of the case for each item.
    Index("ix_acquisitions_item_case", "item_sha256", "case_id"),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
)

CAPTURE_TIME_MOST = 64  # a longer capture time is none (metadata's parser makes at most 35)

case_items = Table(
    "case_items",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    # Indexed on its own too: "which cases hold this item" is asked by every item page.
    Column("item_sha256", String(64), ForeignKey("items.sha256"), primary_key=True, index=True),
    # The item's own media type (never changed), so a case is counted and filtered by type
    # through its own index (migration 0015).
    Column("media_type", String(255), nullable=False),
    # The capture time of the item's latest successful metadata result (normalised; None
    # when it gives none), so a case's timeline reads its own items in capture order through
    # ix_case_items_case_captured (migration 0018; in EXPRESSION_INDEXES: on PostgreSQL it
    # compares bytes, COLLATE "C"; with each membership's first arrival after its keys, 0022).
    # docket.catalogue.records keeps it.
    Column("capture_time", String(CAPTURE_TIME_MOST), nullable=True),
    # Whether the item's latest metadata result (of any status) gives a position, so a case's
    # items with GPS are read from its own index (migration 0018). Kept by records too.
    Column("has_position", Boolean, nullable=False, server_default=false()),
    # The id of the item's first acquisition into the case, written with the membership in
    # that arrival's transaction and never changed (acquisitions never are), so a case's grid
    # reads its items in arrival order from its own index (migration 0021; checked by verify).
    # None only on a membership that no arrival into the case explains (verify names it).
    Column("first_acquisition", Integer, nullable=True),
    Index("ix_case_items_case_type", "case_id", "media_type"),
    # By first arrival after the position, so the items with a position are read in the
    # grid's order (migration 0022).
    Index(
        "ix_case_items_case_position", "case_id", "has_position", "first_acquisition", "item_sha256"
    ),
    Index("ix_case_items_case_arrival", "case_id", "first_acquisition", "item_sha256"),
)

# Every event of every item a case holds, by case (migration 0019): a case's activity and
# audit read its own rows newest first, never other cases' events. Kept by the database's
# triggers (made in 0019) whoever writes an event or a membership; `docket verify` checks it.
case_events = Table(
    "case_events",
    metadata,
    Column("case_id", Integer, primary_key=True, autoincrement=False),
    Column("event_seq", BigInteger, primary_key=True, autoincrement=False),
    Column("action", String(64), nullable=False),  # the event's: an audit of one kind
    Column("actor", String(255), nullable=False),  # the event's: an audit of one person
    Index("ix_case_events_case_action", "case_id", "action", "event_seq"),
    Index("ix_case_events_case_actor", "case_id", "actor", "event_seq"),
    sqlite_with_rowid=False,
)
# How many items of each media type each case holds (migration 0020): a case's dashboard and
# its total read a row a type. Kept by the database's triggers on case_items; verify checks.
case_type_counts = Table(
    "case_type_counts",
    metadata,
    Column("case_id", Integer, primary_key=True, autoincrement=False),
    Column("media_type", String(255), primary_key=True),
    Column("items", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
# How many items each case holds captured on each day (migration 0023; the day is the first
# CAPTURE_DAY characters of the capture time its membership carries): a page of the case's
# timeline reads a row a day. Kept by the database's triggers on case_items; verify checks.
CAPTURE_DAY = 10
case_day_counts = Table(
    "case_day_counts",
    metadata,
    Column("case_id", Integer, primary_key=True, autoincrement=False),
    Column("day", String(CAPTURE_DAY), primary_key=True),
    Column("items", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
# Tables the database fills by itself: a copy of a catalogue writes the rows they come from.
FILLED_BY_TRIGGERS = ("case_events", "case_type_counts", "case_day_counts")

results = Table(
    "results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("step", String(64), nullable=False),
    Column("step_version", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("data", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    # The case (its id) whose arrival this result was recorded again for, shown to it alone
    # (docket.case_analysis; migration 0025); None for a result run.
    Column("repeated_for", Integer, nullable=True),
)

# A file made from an item (preview, keyframe, later redacted and stripped copies), stored
# and hashed in the same store as originals, recorded by the result of the step that made it.
derivatives = Table(
    "derivatives",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("sha256", String(64), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("frame_time", Float, nullable=True),
    Column("event_seq", BigInteger, nullable=False),
)

# PDQ hashes of an item's picture or of its video's keyframes: an index of result data.
perceptual_hashes = Table(
    "perceptual_hashes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("variant", String(16), nullable=False),
    Column("frame_time", Float, nullable=True),
    Column("pdq", String(64), nullable=False),
    Column("quality", Integer, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

# Reviewer-safety flags set by hand (`docket flag`); the latest row of an item is in force.
flags = Table(
    "flags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("flag", String(16), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    # The case the flag was set in (flags are per case); NULL only for rows from before
    # migration 0003 that could not be given to one case: shown to admins only.
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
)

# Which copy of an item a person approved for publication, per case (docket.protect.approval):
# the latest row of an item and case is in force; a row without a derivative is a revocation.
approvals = Table(
    "approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),
    Column("derivative_sha256", String(64), nullable=True),
    Column("acknowledged_faces", Integer, nullable=False),
    Column("note", Text, nullable=True),
    Column("event_seq", BigInteger, nullable=False),
)

# RFC 3161 tokens over checkpoints (the token's signed time is a third party's word).
timestamps = Table(
    "timestamps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("checkpoint_id", Integer, ForeignKey("checkpoints.id"), nullable=False),
    Column("tsa", Text, nullable=False),
    Column("token", LargeBinary, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

# Review work on items: tags, notes, and annotations (a region of a picture or a span of a
# video, with text). Each row is written with its custody event.
tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("tag", String(120), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),  # as flags
)

annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),  # note | region | span
    Column("region", String(64), nullable=True),  # "x,y,w,h" in pixels
    Column("start", Float, nullable=True),
    Column("end", Float, nullable=True),
    Column("text", Text, nullable=False),
    Column("author", String(255), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=True, index=True),  # as flags
)

# Workflow: an item's status in a case (new, in review, verified, disputed, excluded), who it is
# assigned to and why it changed (docket.review). The latest row of an item and case is in force;
# each row is written with its custody event (item.status_set). No row: the item is new.
statuses = Table(
    "statuses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("assignee", String(255), nullable=True),
    Column("comment", Text, nullable=True),
    Column("author", String(255), nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

# Saved searches: a person's named query of a case's item grid (docket.saved_searches). A
# convenience of the person's, not evidence work: no custody event records them.
saved_searches = Table(
    "saved_searches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("name", String(120), nullable=False),
    Column("query", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("case_id", "user_id", "name", name="uq_saved_search_name"),
)

# Incidents: what happened, when and where, within one case. A row holds the incident as its
# latest custody event (incident.recorded or incident.updated) describes it; the events keep
# every earlier version.
incidents = Table(
    "incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("title", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("occurred_from", String(40), nullable=True),  # ISO 8601 date or date-time
    Column("occurred_to", String(40), nullable=True),
    Column("place", String(300), nullable=False),
    Column("latitude", Float, nullable=True),
    Column("longitude", Float, nullable=True),
    Column("violations", Text, nullable=False),  # JSON list of vocabulary names
    Column("actors", Text, nullable=False),  # JSON list of free-text actors
    Column("event_seq", BigInteger, nullable=False),
)

# An item, or one annotation of it, linked to an incident of a case that holds the item.
incident_links = Table(
    "incident_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("incidents.id"), nullable=False, index=True),
    Column("item_sha256", String(64), ForeignKey("items.sha256"), nullable=False, index=True),
    Column("annotation_id", Integer, ForeignKey("annotations.id"), nullable=True),
    Column("event_seq", BigInteger, nullable=False),
)

# Changes to the violation-type vocabulary (the built-in names need no row); one row per name,
# as its latest vocabulary event left it.
violation_types = Table(
    "violation_types",
    metadata,
    Column("name", String(120), primary_key=True),
    Column("active", Boolean, nullable=False),
    Column("event_seq", BigInteger, nullable=False),
)

# The full-text index of what people record (docket.catalogue.fulltext): one entry per row of
# text, with its case (none for an item's metadata). The match index beside it differs by
# dialect (an FTS5 table on SQLite, a GIN index on PostgreSQL; migration 0006) and is not
# declared here: `declared` tells Alembic's comparison to leave it out.
search_entries = Table(
    "search_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # acquisition | tag | annotation | incident | metadata, and the row's id in its table;
    # no foreign keys: an entry is derived from its row and never holds it back.
    Column("kind", String(16), nullable=False),
    Column("ref", Integer, nullable=False),
    Column("case_id", Integer, nullable=True, index=True),
    Column("item_sha256", String(64), nullable=True, index=True),  # None for an incident
    Column("body", Text, nullable=False),  # the words, made alike
    Index("ix_search_entries_kind_ref", "kind", "ref"),
)
SEARCH_INDEXES = ("search_fts", "ix_search_entries_body")
# Classifications by the flag they propose (migration 0016) and a case's items by capture time
# (0018, byte by byte on PostgreSQL): indexes on expressions or collations that differ by
# dialect, so not declared here.
EXPRESSION_INDEXES = (
    "ix_case_items_case_captured",
    "ix_results_proposed_flag",
)


# The job queue's tables on PostgreSQL (migration 0010): procrastinate's, and docket.jobs'.
QUEUE_TABLES = ("procrastinate_", "job_failures")


def declared(_object: object, name: str | None, _type: str, _reflected: bool, _to: object) -> bool:
    """For Alembic's include_object: everything but the dialect's own full-text index, the
    expression indexes and the job queue's tables (not part of this metadata)."""
    return not (name or "").startswith(SEARCH_INDEXES + EXPRESSION_INDEXES + QUEUE_TABLES)


# Accounts for the web app. Passwords and API tokens are stored only as hashes.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("disabled_at", String(40), nullable=True),  # set while the account is disabled
    Column("last_sign_in", String(40), nullable=True),
)

# API tokens (many a person, each with an expiry); revoked ones are kept, marked.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(120), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
    Column("last_used_at", String(40), nullable=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
    Column("role", String(16), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

PACKAGE_EXPORTED, CAPTURE_MADE = "package.exported", "capture.made"
PROFILE_BOUND = "profile.bound"  # a kept browser profile given to a case (capture/profiles.py)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(40), nullable=False),
    Column("actor", String(255), nullable=False),
    Column("action", String(64), nullable=False),
    Column("item_sha256", String(64), nullable=True, index=True),
    Column("details", Text, nullable=False),
    Column("leaf_hash", String(64), nullable=False),
    # The events a job looks up by its request (migration 0014; docket.jobs.export, .capture).
    *(
        Index(name, "seq", sqlite_where=text(where), postgresql_where=text(where))
        for name, where in (
            ("ix_events_package_exported", f"action = '{PACKAGE_EXPORTED}'"),
            ("ix_events_capture_made", f"action = '{CAPTURE_MADE}'"),
            ("ix_events_profile_bound", f"action = '{PROFILE_BOUND}'"),  # migration 0024
        )
    ),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", String(64), nullable=False),
    Column("time", String(40), nullable=False),
    Column("note", Text, nullable=False),
    Column("signature", String(128), nullable=False),
    UniqueConstraint("tree_size", name="uq_checkpoint_size"),
)

# One row, updated first in every transaction that appends to the log, so that appends are
# serialised on PostgreSQL as they are on SQLite (where BEGIN IMMEDIATE already does it).
log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)

# Hashes of complete subtrees of the log's Merkle tree: leaves [position * 2**level,
# (position + 1) * 2**level), filled as proofs need them (docket.custody.subtrees). Derived
# data: `docket verify` recomputes the tree from the leaves and never trusts these.
subtree_hashes = Table(
    "subtree_hashes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)
