"""Pure rules of the digest: the schedule, what a digest says, the life of a delivery."""
