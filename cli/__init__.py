"""The ``mlops`` command line: thin modules that parse options and call the engines."""
