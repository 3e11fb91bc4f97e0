"""The domain: plain functions taking a session and values. No Flask here; callers commit."""
