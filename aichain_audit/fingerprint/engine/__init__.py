"""Hashing engines behind one interface (`engine.interface`)."""
