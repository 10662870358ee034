"""The user's control over their memory: forgetting for good (``forget``) and the audit log of
what was forgotten (``audit``). See docs/privacy.md.

This layer sits below :mod:`lifelog.api` and above the sources and domains: forgetting reaches
every table, the vault, kept originals and device ledgers.
"""
