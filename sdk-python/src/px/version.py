"""The package version, sent in every event's context.library."""

VERSION = "0.1.0"
LIBRARY_NAME = "px-sdk-python"
