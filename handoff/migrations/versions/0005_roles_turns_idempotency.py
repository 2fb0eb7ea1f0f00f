"""agent roles and idle sessions; client message ids and the turn journal; dead letters that agents see

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch_op:
        batch_op.add_column(sa.Column("role", sa.String(length=16), nullable=False, server_default="agent"))
    # before roles, the one account `run` created was the console's administrator
    op.execute("UPDATE agents SET role = 'admin' WHERE username = 'admin'")
    with op.batch_alter_table("agent_sessions") as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("client_message_id", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("turn_pending", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("uq_messages_conversation_client_id", ["conversation_id", "client_message_id"], unique=True)
        batch_op.create_index("ix_messages_turn_pending", ["turn_pending"])
    with op.batch_alter_table("deferred_deliveries") as batch_op:
        batch_op.add_column(sa.Column("given_up_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deferred_deliveries") as batch_op:
        batch_op.drop_column("given_up_at")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("ix_messages_turn_pending")
        batch_op.drop_index("uq_messages_conversation_client_id")
        batch_op.drop_column("turn_pending")
        batch_op.drop_column("client_message_id")
    with op.batch_alter_table("agent_sessions") as batch_op:
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("agents") as batch_op:
        batch_op.drop_column("role")
