"""Storage engines, one folder each, behind the domain's Protocols.

The domain (privacy/, segments/, lifecycle/) owns the rules: how a vault entry is
sealed, when a budget is overdrawn, how an access record is chained. An engine
only stores and loads rows, keeps its own concurrency model, and translates its
own errors into the domain's (storage/translate.py). Only engine folders import a
database driver, and no engine folder imports another.
"""
