"""Business modules: each owns its routes, schemas and repository."""
