"""vidrag indexer: turns a video file into a persistent, timestamped, searchable index."""
