"""background codes as delivered: wider sex and age_group columns

An invalid background code (sex `onbekend`, age band `100-120`) is stored as delivered so that the
quality rules set the row aside with the value; any age band label fits.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('respondents') as batch:
        batch.alter_column('sex', existing_type=sa.String(length=1), type_=sa.String(length=16))
        batch.alter_column('age_group', existing_type=sa.String(length=8), type_=sa.String(length=16))
    with op.batch_alter_table('participant_feedback') as batch:
        batch.alter_column('age_group', existing_type=sa.String(length=8), type_=sa.String(length=16))


def downgrade() -> None:
    with op.batch_alter_table('participant_feedback') as batch:
        batch.alter_column('age_group', existing_type=sa.String(length=16), type_=sa.String(length=8))
    with op.batch_alter_table('respondents') as batch:
        batch.alter_column('age_group', existing_type=sa.String(length=16), type_=sa.String(length=8))
        batch.alter_column('sex', existing_type=sa.String(length=16), type_=sa.String(length=1))
