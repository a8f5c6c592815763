"""The ``cardiacssl`` command line: one module per subcommand, each ``add_parser`` + ``run``."""
