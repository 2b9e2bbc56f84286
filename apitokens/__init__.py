"""Per-user API tokens: hashed at rest, created and revoked in the admin, sent in ``Authorization`` only."""
