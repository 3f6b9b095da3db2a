"""Whoosh search over published resources (Chinese analysis, one writer, rebuildable).

Only the package exists so far; the resource-center work fills it in.
"""
