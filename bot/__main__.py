"""Run the command line as ``python -m bot``."""

from bot.cli.main import main

main()
