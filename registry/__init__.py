"""The registries as the system of record: operators, licences, venues, assets and representatives."""
