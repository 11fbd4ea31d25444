"""The foundation every other package stands on; it imports none of them.

- ``settings``: where the data home is and the limits, from ``--home``, ``$CARSCOUT_HOME``,
  ``carscout.toml`` or ``./data``.
- ``schema``, ``catalog``, ``migrations/``: the catalog's tables (SQLAlchemy Core), its
  connection and transactions, and its Alembic versions.
- ``store``: the content-addressed photo store.
- ``intake``: the one door every photo comes in through (validation, normalisation,
  provenance); ``importer``: ``carscout import``'s folder walk over it.
- ``workspace``: settings, catalog and store opened together.
- ``status``: counts of what the catalog holds.
- ``errors``: the error types the command line prints as one line.
- ``processes``: whether a process still runs (cleaning up after killed ones).
"""
