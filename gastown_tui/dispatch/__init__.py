"""dispatch layer."""
