"""Presentation only: plots, widgets and the board report.

Views draw what the library computes; they never compute a figure the library does not
offer.
"""
