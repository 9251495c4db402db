"""Core layer: forecast import and, as the workbench grows, the services."""
