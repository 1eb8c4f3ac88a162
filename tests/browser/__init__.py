"""Browser tests: real JupyterLab and Voila servers driven by Playwright and Chromium."""
