"""``python -m engine.data [NAME ...]``: prepare catalog data sets and refresh their data cards."""

import argparse
import sys

from engine.data.cards import main
from engine.errors import AutodistillError

parser = argparse.ArgumentParser(
    prog="python -m engine.data",
    description="Prepare catalog data sets, then rewrite their data cards and recorded split sizes.",
)
parser.add_argument("names", nargs="*", metavar="NAME", help="catalog data sets (default: all of them)")
try:
    main(parser.parse_args().names)
except AutodistillError as exc:  # a bad name or a missing asset: one line, as the CLI prints it
    sys.exit(f"error: {exc}")
