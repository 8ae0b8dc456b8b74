"""The tables of slack_sdk's SQLAlchemy OAuth stores (installations, bots, OAuth states),
as the stores define them, on their own MetaData: Alembic creates them (0008) and compares
them next to SQLModel's."""

import sqlalchemy as sa
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

metadata = sa.MetaData()

installations = SQLAlchemyInstallationStore.build_installations_table(
    metadata, SQLAlchemyInstallationStore.default_installations_table_name
)
bots = SQLAlchemyInstallationStore.build_bots_table(
    metadata, SQLAlchemyInstallationStore.default_bots_table_name
)
oauth_states = SQLAlchemyOAuthStateStore.build_oauth_states_table(
    metadata, SQLAlchemyOAuthStateStore.default_table_name
)
