"""web sessions: the dashboard's server-side sign-in sessions

Revision ID: 0002_web_sessions
Revises: 0001
Create Date: (written with the WebSession model)
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import orchestrator.store.types


revision: str = '0002_web_sessions'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('websession',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('id_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', orchestrator.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', orchestrator.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', orchestrator.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', orchestrator.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['token_id'], ['apitoken.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('id_hash')
    )
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_websession_token_id'), ['token_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_websession_token_id'))
    op.drop_table('websession')
