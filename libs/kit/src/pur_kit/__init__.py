"""Shared plumbing for the Profile Update Requests services."""
