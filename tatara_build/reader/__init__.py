"""Readers: text at the edge -> Documents with a Span on every node."""
