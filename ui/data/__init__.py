"""The Data page's parts: working copy, import, checks, editor, duplicates, split/export, history."""
