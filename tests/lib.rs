//! Workspace-level tests live beside this file; the library itself is empty.
