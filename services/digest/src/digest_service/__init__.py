"""The digest service: the daily digest email for Users Managers."""
