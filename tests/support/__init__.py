"""Test support shared by the station, TUI and integration tests."""
