"""receipt history, ingest findings, run lock (issue 9)

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('receipt_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('survey', sa.String(length=64), nullable=False),
    sa.Column('wave', sa.String(length=32), nullable=False),
    sa.Column('file_name', sa.String(length=512), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['receipt_id'], ['file_receipts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ingest_findings',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('survey', sa.String(length=64), nullable=False),
    sa.Column('wave', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('source_row', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.String(length=64), nullable=False),
    sa.Column('column_name', sa.String(length=128), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['receipt_id'], ['file_receipts.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_ingest_findings_wave', 'ingest_findings', ['survey', 'wave'], unique=False)
    op.create_table('run_lock',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=256), nullable=False),
    sa.Column('acquired_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('run_lock')
    op.drop_index('ix_ingest_findings_wave', table_name='ingest_findings')
    op.drop_table('ingest_findings')
    op.drop_table('receipt_events')
