"""Search over artifacts; ``satchel.search.embed`` holds the seam of semantic search."""
