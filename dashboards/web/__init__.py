"""The analysts' web dashboard: read-only pages and exports, served on 127.0.0.1."""
