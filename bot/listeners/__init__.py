"""The Bolt listeners, a module for each thing they serve; each module's `register` adds its own to the app."""
