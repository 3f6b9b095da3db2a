"""Media processing for untrusted uploads: a plain library the worker calls with local paths and settings.

Nothing here imports Flask or the app. ``ffmpeg`` holds the guarded ffmpeg/ffprobe runner, the
command builders and the probe; ``video`` and ``audio`` the policies and renditions (SD MP4, poster,
thumbnail, MP3 listening copy).
"""
