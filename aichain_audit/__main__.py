"""`python -m aichain_audit` behaves exactly like `aichain`."""

from aichain_audit.cli import main

if __name__ == "__main__":
    main()
