"""The module panel inside Slicer: widget controller, typed parameter node, dependency install."""
