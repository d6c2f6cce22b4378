"""The search engine: keyword and vector indexes, the per-video index on disk, rank fusion and
the library-wide Searcher. Modules: tokens → keyword; vectors; video_index (on disk);
dense_build + library (the loaded library's state); fusion; searcher (the public entry)."""
