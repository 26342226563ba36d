"""district breakdowns: headline indicators by age group and by sex per district

Revision ID: 0009_issue10c
Revises: 0008
Create Date: 2026-12-01 04:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009_issue10c'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'district_breakdowns',
        sa.Column('survey', sa.String(length=64), nullable=False),
        sa.Column('wave', sa.String(length=32), nullable=False),
        sa.Column('district_code', sa.String(length=16), nullable=False),
        sa.Column('indicator_id', sa.String(length=64), nullable=False),
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('level', sa.String(length=32), nullable=False),
        sa.Column('estimate', sa.Float(), nullable=True),
        sa.Column('se', sa.Float(), nullable=True),
        sa.Column('ci_low', sa.Float(), nullable=True),
        sa.Column('ci_high', sa.Float(), nullable=True),
        sa.Column('n', sa.Integer(), nullable=True),
        sa.Column('suppressed', sa.Boolean(), nullable=False),
        sa.Column('suppression_reason', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('survey', 'wave', 'district_code', 'indicator_id', 'dimension', 'level'),
    )


def downgrade() -> None:
    op.drop_table('district_breakdowns')
