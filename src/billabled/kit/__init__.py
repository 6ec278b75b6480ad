"""Domain-free helpers: ids, time, hashing. Nothing here imports from the rest of billabled."""
