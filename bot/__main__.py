"""Run the command line as ``python -m bot``."""

from bot.cli import main

main()
