"""parked attempts and webhook events: failure counts of one kind in a row

Revision ID: parked_attempts
Revises: notification_message_id
Create Date: (written by hand with the models)
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = 'parked_attempts'
down_revision: str | None = 'notification_message_id'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('dial_failures', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column(
                'dial_failure_kind', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=True
            )
        )
    with op.batch_alter_table('webhookevent', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('failures', sa.Integer(), nullable=False, server_default='0')
        )


def downgrade() -> None:
    with op.batch_alter_table('webhookevent', schema=None) as batch_op:
        batch_op.drop_column('failures')
    with op.batch_alter_table('attempt', schema=None) as batch_op:
        batch_op.drop_column('dial_failure_kind')
        batch_op.drop_column('dial_failures')
