"""One module per page of the app. Each page is a QWidget subclass built as ``Page(ctx)`` with
an :class:`ui.context.AppContext`; the main window (ui/app.py) puts pages in its navigation."""
