"""Storage kinds behind one interface (`storage.interface`)."""
