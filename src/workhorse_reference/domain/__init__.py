"""The reference application's domain: models and database."""
