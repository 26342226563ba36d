"""answer files: the answers of a wave as one Parquet file per loaded receipt (issue 12)

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('answer_files',
    sa.Column('survey', sa.String(length=64), nullable=False),
    sa.Column('wave', sa.String(length=32), nullable=False),
    sa.Column('receipt_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('written_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['receipt_id'], ['file_receipts.id'], ),
    sa.PrimaryKeyConstraint('survey', 'wave')
    )


def downgrade() -> None:
    op.drop_table('answer_files')
