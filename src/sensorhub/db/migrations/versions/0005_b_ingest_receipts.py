"""Redelivered messages never make a second row: receive-time receipts and a key for log lines.

`ingest_receipts` holds, per written batch, the receive time sensorhub gave to each QoS 1 packet
(packet id and a digest of topic and payload), so that a redelivery (DUP=1) is stored at the same
time again (sensorhub.ingest.receipts). `device_logs` gets a natural key, (module, time, level,
md5 of the message), so a redelivered log line is absorbed like a measurement; duplicates
already stored are removed first, keeping the oldest row.

Revision ID: 0005_b_ingest_receipts
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_b_ingest_receipts"
down_revision = "0004_a_rollup_queue"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_receipts",
        sa.Column("id", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column(
            "written_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("packet_ids", postgresql.ARRAY(sa.Integer), nullable=False),
        sa.Column("digests", postgresql.ARRAY(sa.BigInteger), nullable=False),
        sa.Column("times", postgresql.ARRAY(sa.DateTime(timezone=True)), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_receipts"),
    )
    op.create_index("ix_ingest_receipts_client_id_id", "ingest_receipts", ["client_id", "id"])
    op.execute(
        "DELETE FROM device_logs AS a USING device_logs AS b "
        "WHERE a.module_id = b.module_id AND a.time = b.time AND a.level = b.level "
        "AND a.message = b.message AND a.id > b.id"
    )
    op.execute(
        "CREATE UNIQUE INDEX ux_device_logs_natural_key "
        "ON device_logs (module_id, time, level, md5(message))"
    )


def downgrade() -> None:
    op.drop_index("ux_device_logs_natural_key", table_name="device_logs")
    op.drop_index("ix_ingest_receipts_client_id_id", table_name="ingest_receipts")
    op.drop_table("ingest_receipts")
