"""The audit log (操作日志): who did what to which object, and when.

A plain lower-floor package: services of every feature call ``record`` in their own transaction,
so an entry exists exactly when the action it describes was committed.
"""
