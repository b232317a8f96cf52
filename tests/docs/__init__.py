"""Tests of the documentation: its snippets run, its reference pages are current."""
