"""The warehouse schema: one SQLAlchemy metadata for SQLite and PostgreSQL.

Changes to these tables go through an Alembic migration (socialquality/migrations) so that an
existing warehouse is upgraded, not rebuilt. Direct identifiers never appear here: respondents are
known by a keyed-hash pseudonym only.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# --- Ingestion -------------------------------------------------------------------------------
file_receipts = Table(
    "file_receipts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("survey", String(64), nullable=False),
    Column("wave", String(32), nullable=False),
    Column("file_name", String(512), nullable=False),
    Column("checksum", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),  # file modification time
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("rows", Integer),
    Column("encoding", String(32)),
    Column("delimiter", String(4)),
    Column("status", String(16), nullable=False),  # loaded | superseded | rejected
    Column("error", Text),
    Column("unknown_columns", Text),  # JSON list
    Column("dropped_columns", Text),  # JSON list (direct identifiers refused)
    Column("label_mismatches", Text),  # JSON list
    Column("run_id", String(64)),
    UniqueConstraint("survey", "wave", "checksum", name="uq_receipt_checksum"),
)

# Append-only history of every receipt: received, loaded, superseded, re-loaded, held, rejected,
# accepted (migration 0003). file_receipts holds the current status; this table keeps every
# change with its run and time, so a re-delivered earlier file does not erase the load history.
receipt_events = Table(
    "receipt_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("receipt_id", Integer, ForeignKey("file_receipts.id"), nullable=False),
    Column("survey", String(64), nullable=False),
    Column("wave", String(32), nullable=False),
    Column("file_name", String(512), nullable=False),
    Column("event", String(16), nullable=False),
    Column("run_id", String(64)),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("detail", Text),
)

# Cells and rows that ingestion could not take at face value (text in a numeric column, a
# fraction on a whole-number scale, an unknown background code, a short row): the delivered value
# is kept here, and the quality stage quarantines the row with it (migration 0003).
ingest_findings = Table(
    "ingest_findings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("survey", String(64), nullable=False),
    Column("wave", String(32), nullable=False),
    Column("receipt_id", Integer, ForeignKey("file_receipts.id"), nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("column_name", String(128)),
    Column("value", Text),
    Column("message", Text),
)
Index("ix_ingest_findings_wave", ingest_findings.c.survey, ingest_findings.c.wave)

# One writer per installation: who holds the run lock (informational; the lock itself is a
# PostgreSQL advisory lock or a file lock, released when the process ends).
run_lock = Table(
    "run_lock",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(256), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)

respondents = Table(
    "respondents",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("respondent_pid", String(32), primary_key=True),
    Column("source_row", Integer, primary_key=True),  # a duplicate id keeps both rows on record
    Column("receipt_id", Integer, ForeignKey("file_receipts.id"), nullable=False),
    Column("district_code", String(16)),
    Column("buurt_code", String(16)),  # CBS buurt code when the survey delivers it (migration 0005)
    Column("sex", String(16)),  # m | v | x, or an invalid code as delivered (quarantined)
    Column("age", Float),
    Column("age_group", String(16)),
    Column("duration_min", Float),
    Column("status", String(16), nullable=False),  # received | clean | quarantined | released
)
Index("ix_respondents_wave_status", respondents.c.survey, respondents.c.wave, respondents.c.status)

answers = Table(
    "answers",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("respondent_pid", String(32), primary_key=True),
    Column("source_row", Integer, primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("value", Float),  # answer code in the current coding; missing codes are NULL
)

text_answers = Table(
    "text_answers",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("respondent_pid", String(32), primary_key=True),
    Column("source_row", Integer, primary_key=True),
    Column("item_id", String(64), primary_key=True),
    Column("text", Text),  # e-mail addresses and phone numbers redacted
)

# --- Quality and audit -----------------------------------------------------------------------
validation_runs = Table(
    "validation_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("survey", String(64), nullable=False),
    Column("wave", String(32), nullable=False),
    Column("receipt_id", Integer, ForeignKey("file_receipts.id")),
    Column("validated_at", DateTime(timezone=True), nullable=False),
    Column("suites", Text, nullable=False),  # JSON {suite name: sha256}
    Column("success", Boolean, nullable=False),
    Column("received", Integer, nullable=False),
    Column("clean", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Column("blocked", Boolean, nullable=False),
    Column("blocked_reason", Text),
    Column("data_docs_path", Text),
    Column("gx_results", Text),  # JSON of the GX validation results
)

check_results = Table(
    "check_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("validation_run_id", Integer, ForeignKey("validation_runs.id"), nullable=False),
    Column("rule_id", String(64), nullable=False),
    Column("expectation_type", String(128)),
    Column("column_name", String(128)),
    Column("kind", String(16)),  # row | dataset
    Column("severity", String(32)),
    Column("success", Boolean),
    Column("observed_value", Text),
    Column("threshold", Text),
    Column("rows_affected", Integer),
    Column("message", Text),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("survey", String(64), nullable=False),
    Column("wave", String(32), nullable=False),
    Column("validation_run_id", Integer, ForeignKey("validation_runs.id")),
    Column("source_file", String(512), nullable=False),
    Column("source_row", Integer, nullable=False),
    Column("respondent_pid", String(32)),
    Column("rule_id", String(64), nullable=False),
    Column("column_name", String(128)),
    Column("value", Text),
    Column("severity", String(32), nullable=False),
    Column("message", Text),
    Column("released_by", String(128)),
    Column("released_at", DateTime(timezone=True)),
    Column("release_reason", Text),
)
Index("ix_quarantine_wave", quarantine.c.survey, quarantine.c.wave)

wave_status = Table(
    "wave_status",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("status", String(16), nullable=False),  # usable | blocked
    Column("reason", Text),
    Column("run_id", String(64)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

lineage = Table(
    "lineage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),  # the Dagster run
    Column("survey", String(64), nullable=False),
    Column("wave", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("files", Text, nullable=False),  # JSON [{file_name, checksum}]
    Column("codebook_version", Integer),
    Column("codebook_checksum", String(64)),
    Column("catalogue_version", Integer),
    Column("suites", Text),  # JSON {suite: sha256}
    Column("code_version", String(64)),  # git commit, or package version outside git
    Column("package_version", String(32)),
)

# --- Population, weights and indicators ----------------------------------------------------
districts = Table(
    "districts",
    metadata,
    Column("district_code", String(16), primary_key=True),
    Column("municipality", String(8), nullable=False),
    Column("district_name", String(128)),
    Column("population", Integer),
    Column("year", Integer),
)

population_margins = Table(
    "population_margins",
    metadata,
    Column("district_code", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("variable", String(16), primary_key=True),  # sex | age_group
    Column("level", String(16), primary_key=True),
    Column("count", Float, nullable=False),
)

register_indicators = Table(
    "register_indicators",
    metadata,
    Column("district_code", String(16), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("value", Float),
    Column("source", String(128)),
)

weights = Table(
    "weights",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("respondent_pid", String(32), primary_key=True),
    Column("source_row", Integer, primary_key=True),
    Column("district_code", String(16)),
    Column("base_weight", Float),
    Column("weight", Float, nullable=False),
)

weighting_diagnostics = Table(
    "weighting_diagnostics",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("n", Integer),
    Column("deff", Float),
    Column("n_eff", Float),
    Column("converged", Boolean),
    Column("iterations", Integer),
    Column("trimmed", Integer),
    Column("collapsed", Text),
    Column("warning", Text),
)

district_indicators = Table(
    "district_indicators",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("estimate", Float),
    Column("se", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("n", Integer),
    Column("n_eff", Float),
    Column("deff", Float),
    Column("suppressed", Boolean, nullable=False),
    Column("suppression_reason", Text),
    Column("lineage_id", Integer, ForeignKey("lineage.id")),
)

# Headline indicators by age group and by sex per district (socialquality.breakdowns; migration
# 0009_issue10c): domain estimates on the raked design; cells below the minimum keep no number.
district_breakdowns = Table(
    "district_breakdowns",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("dimension", String(16), primary_key=True),
    Column("level", String(32), primary_key=True),
    Column("estimate", Float),
    Column("se", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("n", Integer),
    Column("suppressed", Boolean, nullable=False),
    Column("suppression_reason", Text),
)

# Sampling covariances between a district's indicators of one condition (same respondents), so
# that the composite index gets an honest interval (migration 0002).
indicator_covariances = Table(
    "indicator_covariances",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("indicator_a", String(64), primary_key=True),
    Column("indicator_b", String(64), primary_key=True),
    Column("cov", Float),
)

indicator_changes = Table(
    "indicator_changes",
    metadata,
    Column("district_code", String(16), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("compared_to", String(16), primary_key=True),  # previous | base
    Column("reference_wave", String(32)),
    Column("change", Float),
    Column("se", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("p_value", Float),
    Column("p_adjusted", Float),
    Column("verdict", String(32)),
    Column("method_break", Boolean),
)

composite_index = Table(
    "composite_index",
    metadata,
    Column("wave", String(32), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("condition", String(64), primary_key=True),
    Column("index", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("n_indicators", Integer),
)

index_decomposition = Table(
    "index_decomposition",
    metadata,
    Column("wave", String(32), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("condition", String(64), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("contribution", Float),
)

# --- Interventions ---------------------------------------------------------------------------
interventions = Table(
    "interventions",
    metadata,
    Column("intervention_id", String(64), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("sphere", String(16)),
    Column("mechanism", Text),
    Column("goal", Text),
    Column("target_age_min", Integer),
    Column("indicators", Text),  # JSON list
)

intervention_sites = Table(
    "intervention_sites",
    metadata,
    Column("intervention_id", String(64), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("start_date", String(10), nullable=False),
)

intervention_activity = Table(
    "intervention_activity",
    metadata,
    Column("intervention_id", String(64), primary_key=True),
    Column("district_code", String(16), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("sessions_planned", Integer),
    Column("sessions_held", Integer),
    Column("participants", Integer),
)

participant_feedback = Table(
    "participant_feedback",
    metadata,
    Column("intervention_id", String(64), nullable=False),
    Column("wave", String(32), primary_key=True),
    Column("participant_pid", String(32), primary_key=True),
    Column("source_row", Integer, primary_key=True),
    Column("receipt_id", Integer, ForeignKey("file_receipts.id")),
    Column("district_code", String(16)),
    Column("age_group", String(16)),
    Column("contacts_change", String(16)),  # more | same | fewer
    Column("attribution", String(32)),
    Column("satisfaction", Float),
    Column("comment", Text),  # redacted free text
)

intervention_effects = Table(
    "intervention_effects",
    metadata,
    Column("intervention_id", String(64), primary_key=True),
    Column("district_code", String(16), primary_key=True),  # "" = pooled over sites
    Column("indicator_id", String(64), primary_key=True),
    Column("method", String(32), primary_key=True),  # its | did | staggered_did
    Column("role", String(16)),  # headline (district_code "": the one verdict) | supporting
    Column("estimate", Float),
    Column("se", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("mde", Float),  # minimum detectable effect (80% power, 5% two-sided), indicator units
    Column("estimable", Boolean, nullable=False),
    Column("reason", Text),
    Column("pretrend_p", Float),
    Column("pretrend_warning", Boolean),
    Column("verdict_code", String(32)),
    Column("verdict_nl", Text),
    Column("details", Text),  # JSON (event-time coefficients etc.)
)


# --- Small areas: buurten, register covariates, Fay-Herriot figures (migration 0005) ----
buurten = Table(
    "buurten",
    metadata,
    Column("buurt_code", String(16), primary_key=True),
    Column("district_code", String(16), nullable=False),
    Column("municipality", String(8), nullable=False),
    Column("buurt_name", String(128)),
    Column("population", Integer),
    Column("year", Integer),
)

area_covariates = Table(
    "area_covariates",
    metadata,
    Column("level", String(16), primary_key=True),  # district | buurt
    Column("area_code", String(16), primary_key=True),
    Column("covariate", String(64), primary_key=True),
    Column("value", Float),
)

small_area_estimates = Table(
    "small_area_estimates",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("level", String(16), primary_key=True),
    Column("area_code", String(16), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("parent_code", String(16)),
    Column("population", Float),
    Column("n", Integer),
    Column("direct", Float),  # NULL when suppressed (fewer than minimum_respondents)
    Column("direct_se", Float),
    Column("variance_model", Float),  # sampling variance used in the model (smoothed or design)
    Column("variance_smoothed", Boolean),
    Column("synthetic", Float),
    Column("eblup", Float),
    Column("mse", Float),
    Column("model_ci_low", Float),
    Column("model_ci_high", Float),
    Column("gamma", Float),  # shrinkage: weight of the direct estimate
    Column("std_residual", Float),
    Column("direct_suppressed", Boolean),
    Column("source", String(8), nullable=False),  # the published figure: direct | model
    Column("estimate", Float),
    Column("se", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
)

small_area_models = Table(
    "small_area_models",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("level", String(16), primary_key=True),
    Column("indicator_id", String(64), primary_key=True),
    Column("method", String(8)),
    Column("n_areas", Integer),
    Column("n_predicted", Integer),
    Column("sigma2_u", Float),
    Column("sigma2_u_se", Float),
    Column("covariates", Text),  # JSON list
    Column("coefficients", Text),  # JSON [{term, estimate, se, p_value}]
    Column("selection", Text),  # JSON [{covariate, aic}]
    Column("loglik", Float),
    Column("aic", Float),
    Column("r2", Float),
    Column("mean_gamma", Float),
    Column("converged", Boolean),
    Column("benchmark", String(16)),
    Column("smoothed_areas", Integer),
)


# Costs and savings per intervention and year (from the register) and the derived measures next
# to the effects (socialquality.costs; migration 0006).
intervention_costs = Table(
    "intervention_costs",
    metadata,
    Column("intervention_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("budget", Float),
    Column("actual", Float),
    Column("saving", Float),
    Column("funding_source", Text),
    Column("note", Text),
    Column("participants", Float),  # activity records of that year
    Column("feedback_n", Float),  # participants who answered the feedback questionnaire
    Column("feedback_attributed", Float),  # of them: more contacts, attributed to the activity
)

intervention_cost_measures = Table(
    "intervention_cost_measures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("intervention_id", String(64), nullable=False),
    Column("measure", String(48), nullable=False),  # cost_per_participant | cost_per_point | demand_change | ...
    Column("indicator_id", String(64)),  # catalogue indicator or CBS field; "" when none
    Column("value", Float),
    Column("ci_low", Float),
    Column("ci_high", Float),
    Column("extra", Float),  # delta-method SE of a cost per point; SE of a closure's change
    Column("unit", String(32)),
    Column("text_nl", Text),
)


# --- Microdata files (issue 12, migration 0008) ----------------------------------------
# The answers of a loaded delivery live in one Parquet file per receipt (columnar, one row per
# respondent row, one column per item), written before the receipt's transaction commits. This
# pointer row is written in that same transaction: a wave's answers switch to a new file exactly
# when its respondents and receipt do, and a failed load leaves the old pointer (and file) intact.
answer_files = Table(
    "answer_files",
    metadata,
    Column("survey", String(64), primary_key=True),
    Column("wave", String(32), primary_key=True),
    Column("receipt_id", Integer, ForeignKey("file_receipts.id"), nullable=False),
    Column("path", String(1024), nullable=False),  # absolute location of the Parquet file
    Column("rows", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),  # of the file, checked on every read
    Column("written_at", DateTime(timezone=True), nullable=False),
)
