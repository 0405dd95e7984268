"""Sales, step two: companies and their contacts, web-to-lead forms, leads, tasks and lead
assignment rules, quotes and their lines; deals get an external id (imports match on it).

Revision ID: 0002_sales_leads
Revises: 0001_sales
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crm_graph.plugin import JsonColumn, MoneyColumn, UTCDateTimeColumn

revision: str = "0002_sales_leads"
down_revision: str | Sequence[str] | None = "0001_sales"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owner() -> list:
    return [
        sa.Column("owner_id", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["auth_user.user_id"]),
    ]


def _indexes(table: str, *columns: str) -> None:
    for column in columns:
        op.create_index(f"ix_{table}_{column}", table, [column])


def upgrade() -> None:
    with op.batch_alter_table("sales_deal", schema=None) as batch_op:
        batch_op.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch_op.create_unique_constraint("uq_sales_deal_external_id", ["external_id"])
    op.create_table(
        "sales_company",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        *_owner(),
        sa.Column("attributes", JsonColumn, nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("domain"),
    )
    _indexes("sales_company", "owner_id")
    op.create_table(
        "sales_company_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["company_id"], ["sales_company.id"]),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id"),
    )
    _indexes("sales_company_contact", "company_id")
    op.create_table(
        "sales_web_form",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        *_owner(),
        sa.Column("honeypot", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "sales_lead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("company", sa.String(length=300), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("disqualified_reason", sa.String(length=500), nullable=True),
        *_owner(),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("score_factors", JsonColumn, nullable=False),
        sa.Column("attributes", JsonColumn, nullable=False),
        sa.Column("converted_customer_id", sa.Integer(), nullable=True),
        sa.Column("converted_deal_id", sa.Integer(), nullable=True),
        sa.Column("converted_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("form_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["converted_customer_id"], ["customer.id"]),
        sa.ForeignKeyConstraint(["converted_deal_id"], ["sales_deal.id"]),
        sa.ForeignKeyConstraint(["form_id"], ["sales_web_form.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("external_id"),
    )
    _indexes(
        "sales_lead",
        "email",
        "phone",
        "source",
        "status",
        "owner_id",
        "converted_customer_id",
        "created_at",
    )
    op.create_table(
        "sales_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("notes", sa.String(length=5000), nullable=True),
        sa.Column("due_at", UTCDateTimeColumn(), nullable=False),
        *_owner(),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("deal_id", sa.Integer(), nullable=True),
        sa.Column("about_customer_id", sa.Integer(), nullable=True),
        sa.Column("done_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("due_emitted_at", UTCDateTimeColumn(), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["sales_lead.id"]),
        sa.ForeignKeyConstraint(["deal_id"], ["sales_deal.id"]),
        sa.ForeignKeyConstraint(["about_customer_id"], ["customer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes(
        "sales_task", "due_at", "owner_id", "status", "lead_id", "deal_id", "about_customer_id"
    )
    op.create_table(
        "sales_assignment_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=100), nullable=True),
        sa.Column("values", JsonColumn, nullable=False),
        sa.Column("last_user_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.ForeignKeyConstraint(["team_id"], ["auth_team.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "sales_quote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deal_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("contact_name", sa.String(length=300), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        *(
            sa.Column(c, MoneyColumn, nullable=False)
            for c in ("subtotal", "discount", "tax", "total")
        ),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("updated_at", UTCDateTimeColumn(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["sales_deal.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["order.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("sales_quote", "deal_id", "status")
    op.create_table(
        "sales_quote_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        *(
            sa.Column(c, MoneyColumn, nullable=False)
            for c in ("unit_price", "discount_percent", "tax_rate_percent", "net", "tax")
        ),
        sa.ForeignKeyConstraint(["quote_id"], ["sales_quote.id"]),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    _indexes("sales_quote_line", "quote_id")


def downgrade() -> None:
    for table in (
        "sales_quote_line",
        "sales_quote",
        "sales_assignment_rule",
        "sales_task",
        "sales_lead",
        "sales_web_form",
        "sales_company_contact",
        "sales_company",
    ):
        op.drop_table(table)
    with op.batch_alter_table("sales_deal", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sales_deal_external_id", type_="unique")
        batch_op.drop_column("external_id")
