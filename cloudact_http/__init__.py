"""The HTTPS side of ``cloudact serve``: the JSON gateway of the annotated RPCs and the dashboard."""
