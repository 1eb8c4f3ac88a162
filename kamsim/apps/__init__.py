"""The applications: the ``kamsim`` command line and the Voila app."""
