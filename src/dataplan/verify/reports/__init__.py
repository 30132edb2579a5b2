"""Reports of a DiffResult: JSON, terminal (rich), Markdown and one offline HTML page.

All four render the same object and redact secrets first; none touches a database.
"""

from dataplan.verify.reports.html import html_report
from dataplan.verify.reports.jsonfmt import from_json, to_json
from dataplan.verify.reports.markdown import markdown_report
from dataplan.verify.reports.terminal import terminal_report

__all__ = ["from_json", "html_report", "markdown_report", "terminal_report", "to_json"]
