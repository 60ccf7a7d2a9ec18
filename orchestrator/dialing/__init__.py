"""dialing."""
