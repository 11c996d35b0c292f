"""One folder per tab. Only tab.py, views.py, *_views.py and *_panel.py may import Qt (they draw);
every other module (task.py, *_task.py, ...) is Qt-free: the work, as generators. The import-linter
contracts in pyproject.toml hold the line."""
