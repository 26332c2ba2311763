"""venues/ls."""
