"""`measurements` keeps one btree, led by the series: the primary key becomes (module_id,
sensor_type, time, hardware_id) INCLUDE (value), replacing both the time-led key and the history
index `ix_measurements_module_sensor_time`; a BRIN index on `time` serves time-led reads.

Every stored row cost PostgreSQL an insert into each btree; the history index (one insert
position per series) is the expensive one and history needs it, the time-led key only served the
few time-window readers (the sampler's count, retention's batches, the storage report's min/max).
The reordered key answers history as the history index did (index-only, `value` included), and
the BRIN index (a few pages, summarised as ranges fill) serves the time windows. `ON CONFLICT
(time, module_id, sensor_type, hardware_id)` infers the key by its column set: it still matches.
Writing the drain's 200,000 rows in 5,000-row batches (`bench.rollup_micro`'s batches, one
connection), PostgreSQL CPU per row: 12.9 / 14.0 → 10.7 / 11.4 µs (alternating runs); in
`python -m bench drain`, 13.2 → 11.2 µs (medians).

Plain PostgreSQL only, like 0008: a hypertable keeps its time-led key and history index (chunk
exclusion serves the time windows; its compressed chunks cannot be re-indexed here), and
`sensorhub.db.timescale` restores them on a fresh database before making the hypertable.

Cost on a large table (docs/operations.md): the new key and the BRIN index are built from the
whole table (a sort of every row) under an exclusive lock, so ingest waits (and spools) until
the migration commits; the old indexes are dropped first, so the disk needed is one key's size.

Revision ID: 0010_p_series_key
Revises: 0009_p_minute_queue
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_p_series_key"
down_revision = "0009_p_minute_queue"
branch_labels = None
depends_on = None

TABLE = "measurements"
KEY = "pk_measurements"
HISTORY_INDEX = "ix_measurements_module_sensor_time"
TIME_INDEX = "ix_measurements_time"

IS_HYPERTABLE = """
SELECT EXISTS (
    SELECT 1 FROM timescaledb_information.hypertables
    WHERE hypertable_schema = current_schema() AND hypertable_name = 'measurements')
"""


def _is_hypertable() -> bool:
    bind = op.get_bind()
    installed = bind.execute(
        sa.text("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    ).scalar()
    return bool(installed) and bool(bind.execute(sa.text(IS_HYPERTABLE)).scalar())


def upgrade() -> None:
    if _is_hypertable():
        return
    op.drop_index(HISTORY_INDEX, table_name=TABLE)
    op.drop_constraint(KEY, TABLE, type_="primary")
    op.execute(
        f"ALTER TABLE {TABLE} ADD CONSTRAINT {KEY} "
        "PRIMARY KEY (module_id, sensor_type, time, hardware_id) INCLUDE (value)"
    )
    op.create_index(
        TIME_INDEX,
        TABLE,
        ["time"],
        postgresql_using="brin",
        postgresql_with={"autosummarize": "on"},
    )


def downgrade() -> None:
    if _is_hypertable():
        return
    op.drop_index(TIME_INDEX, table_name=TABLE)
    op.drop_constraint(KEY, TABLE, type_="primary")
    op.create_primary_key(KEY, TABLE, ["time", "module_id", "sensor_type", "hardware_id"])
    op.create_index(
        HISTORY_INDEX,
        TABLE,
        ["module_id", "sensor_type", "time"],
        postgresql_include=["value", "hardware_id"],
    )
