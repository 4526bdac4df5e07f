"""Permission-matrix rows by product area (see MATRIX in tests/teams/test_permission_matrix.py)."""
