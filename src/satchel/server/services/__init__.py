"""What the routes call: one service per area, blocking unless marked async."""
