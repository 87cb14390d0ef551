"""``python -m engine.data [NAME ...]``: prepare catalog data sets and refresh their data cards."""

import sys

from engine.data.cards import main

main(sys.argv[1:])
