"""The only package that imports aiosqlite: the SQLite store, its schema and codecs."""
