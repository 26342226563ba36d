"""intervention costs and derived cost measures (issue 14)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intervention_costs',
    sa.Column('intervention_id', sa.String(length=64), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('budget', sa.Float(), nullable=True),
    sa.Column('actual', sa.Float(), nullable=True),
    sa.Column('saving', sa.Float(), nullable=True),
    sa.Column('funding_source', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('participants', sa.Float(), nullable=True),
    sa.Column('feedback_n', sa.Float(), nullable=True),
    sa.Column('feedback_attributed', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('intervention_id', 'year')
    )
    op.create_table('intervention_cost_measures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('intervention_id', sa.String(length=64), nullable=False),
    sa.Column('measure', sa.String(length=48), nullable=False),
    sa.Column('indicator_id', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.Column('extra', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=32), nullable=True),
    sa.Column('text_nl', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('intervention_cost_measures')
    op.drop_table('intervention_costs')
