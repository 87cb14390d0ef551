"""The project's own evidence pages (``docs/study.md``): the paper's §5 figures and tables computed
from the shipped study's runs, and the Figure 4 protocol. Not part of the library: it sits above
:mod:`autodistill` (which never imports it) and below the CLI."""
