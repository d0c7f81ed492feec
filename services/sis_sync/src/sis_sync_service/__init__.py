"""sis_sync: owns the directory (districts, schools, users, permissions) and imports OneRoster rosters."""
