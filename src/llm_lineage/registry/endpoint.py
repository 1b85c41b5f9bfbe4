"""Black-box search: placeholder replaced below."""
