"""small areas: buurt code of respondents, buurten, area covariates, Fay-Herriot estimates and models

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('respondents') as batch:
        batch.add_column(sa.Column('buurt_code', sa.String(length=16), nullable=True))
    op.create_table('buurten',
    sa.Column('buurt_code', sa.String(length=16), nullable=False),
    sa.Column('district_code', sa.String(length=16), nullable=False),
    sa.Column('municipality', sa.String(length=8), nullable=False),
    sa.Column('buurt_name', sa.String(length=128), nullable=True),
    sa.Column('population', sa.Integer(), nullable=True),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('buurt_code')
    )
    op.create_table('area_covariates',
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('area_code', sa.String(length=16), nullable=False),
    sa.Column('covariate', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('level', 'area_code', 'covariate')
    )
    op.create_table('small_area_estimates',
    sa.Column('survey', sa.String(length=64), nullable=False),
    sa.Column('wave', sa.String(length=32), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('area_code', sa.String(length=16), nullable=False),
    sa.Column('indicator_id', sa.String(length=64), nullable=False),
    sa.Column('parent_code', sa.String(length=16), nullable=True),
    sa.Column('population', sa.Float(), nullable=True),
    sa.Column('n', sa.Integer(), nullable=True),
    sa.Column('direct', sa.Float(), nullable=True),
    sa.Column('direct_se', sa.Float(), nullable=True),
    sa.Column('variance_model', sa.Float(), nullable=True),
    sa.Column('variance_smoothed', sa.Boolean(), nullable=True),
    sa.Column('synthetic', sa.Float(), nullable=True),
    sa.Column('eblup', sa.Float(), nullable=True),
    sa.Column('mse', sa.Float(), nullable=True),
    sa.Column('model_ci_low', sa.Float(), nullable=True),
    sa.Column('model_ci_high', sa.Float(), nullable=True),
    sa.Column('gamma', sa.Float(), nullable=True),
    sa.Column('std_residual', sa.Float(), nullable=True),
    sa.Column('direct_suppressed', sa.Boolean(), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('estimate', sa.Float(), nullable=True),
    sa.Column('se', sa.Float(), nullable=True),
    sa.Column('ci_low', sa.Float(), nullable=True),
    sa.Column('ci_high', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('survey', 'wave', 'level', 'area_code', 'indicator_id')
    )
    op.create_table('small_area_models',
    sa.Column('survey', sa.String(length=64), nullable=False),
    sa.Column('wave', sa.String(length=32), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('indicator_id', sa.String(length=64), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=True),
    sa.Column('n_areas', sa.Integer(), nullable=True),
    sa.Column('n_predicted', sa.Integer(), nullable=True),
    sa.Column('sigma2_u', sa.Float(), nullable=True),
    sa.Column('sigma2_u_se', sa.Float(), nullable=True),
    sa.Column('covariates', sa.Text(), nullable=True),
    sa.Column('coefficients', sa.Text(), nullable=True),
    sa.Column('selection', sa.Text(), nullable=True),
    sa.Column('loglik', sa.Float(), nullable=True),
    sa.Column('aic', sa.Float(), nullable=True),
    sa.Column('r2', sa.Float(), nullable=True),
    sa.Column('mean_gamma', sa.Float(), nullable=True),
    sa.Column('converged', sa.Boolean(), nullable=True),
    sa.Column('benchmark', sa.String(length=16), nullable=True),
    sa.Column('smoothed_areas', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('survey', 'wave', 'level', 'indicator_id')
    )


def downgrade() -> None:
    op.drop_table('small_area_models')
    op.drop_table('small_area_estimates')
    op.drop_table('area_covariates')
    op.drop_table('buurten')
    with op.batch_alter_table('respondents') as batch:
        batch.drop_column('buurt_code')
