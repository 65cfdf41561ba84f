"""`python -m kvplan` runs the command line."""

from kvplan.cli import main

if __name__ == "__main__":
    main()
