"""Passwords, signing keys, tokens, PII encryption and TOTP."""
