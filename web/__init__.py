"""The cabinets: one FastAPI application for operators, the regulator and tax officers (docs/cabinets.md)."""
