"""Rendering: jinja templates -> text (pure), and the writer (the only disk side effect)."""
