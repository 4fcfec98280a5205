"""Verification: findings, one check per module, and the composer that decides nothing
but collects (`compose`); the verdict is `findings.Verification.verified`."""
