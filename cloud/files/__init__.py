"""Stored files: the database's record of every object in storage (size, SHA-256, name)."""


def init_app(app):
    # The backend is built lazily by cloud.files.service.get_storage; nothing to connect yet.
    app.extensions.setdefault("kepu_storage", None)
