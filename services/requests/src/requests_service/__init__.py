"""The requests service: profile update requests, their history, and the staff pages."""
