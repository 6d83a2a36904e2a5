"""Vector tiles: tile SQL, rendering, the tile cache, TileJSON, seeding, change-driven rebuilds.

Everything here says z, x, y in that order.
"""
