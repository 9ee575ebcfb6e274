"""The embedded engine: SQLite files in one data folder (`make run`'s default).

Three files keep identity, behavior and the access log physically apart
(vault.db, behavior.db, access_log.db), plus insights.db for the privacy budget.
"""
