"""notification.message_id: the stable `webhook-id` of a CRM notification (Standard Webhooks)

Revision ID: notification_message_id
Revises: 0002_web_sessions

The id a CRM deduplicates by: the same on every retry of one notification, different between
deployments (a random UUID per notification). Rows written before get `msg_<row id>`.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'notification_message_id'
down_revision: str | None = '0002_web_sessions'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    op.execute("UPDATE notification SET message_id = 'msg_' || CAST(id AS VARCHAR(20))")
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.alter_column(
            'message_id', existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('message_id')
