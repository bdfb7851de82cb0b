"""The cabinets: one FastAPI application for operators, the regulator and the tax service (docs/cabinets.md)."""
