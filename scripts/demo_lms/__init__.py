"""The demo LMS: an independent LTI 1.3 platform for development and tests (not shipped)."""
