"""The operator's touchscreen UI and the JSON API it (and the demo) drive."""
