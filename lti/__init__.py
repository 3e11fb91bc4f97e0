"""The LTI 1.3 adapter. Only this package reads JWT claims; the app sees a LaunchContext."""
