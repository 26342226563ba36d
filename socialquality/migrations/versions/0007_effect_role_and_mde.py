"""intervention effects: role (headline | supporting) and minimum detectable effect

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 01:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('intervention_effects') as batch_op:
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('mde', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('intervention_effects') as batch_op:
        batch_op.drop_column('mde')
        batch_op.drop_column('role')
