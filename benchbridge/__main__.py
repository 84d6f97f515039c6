"""`python -m benchbridge`: the CLI (torchrun starts its workers this way)."""

from benchbridge.cli import main

if __name__ == "__main__":
    main()
