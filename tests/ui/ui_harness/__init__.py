"""What the staff web app's browser checks share: the seeded site, the page states, the browser
helpers and the report tables."""
