"""Tests of scheduling: windows, dispatch, fairness, campaign control."""
