"""The run's CSV files and HTML report, written a last time once the users have stopped.

Locust's own --csv writer rewrites the CSVs once a second and is never asked for a last pass: the
process exits right after the users' on_stop requests (logouts, admins deleting their uploads), so
they were in stats.json, written at exit, but not in locust_stats.csv. The suite therefore takes
Locust's --csv, --csv-full-history and --html over (same options, same files, Locust's own
writer classes): the CSVs are rewritten once a second during the run, as Locust does, and all the
files a last time on `quitting`, after the users have stopped, from the statistics Locust writes
stats.json from right after. A master runs this; its workers write no reports.
"""

from __future__ import annotations

import logging
import os
import time

import gevent
from locust.html import get_html_report, process_html_filename
from locust.runners import STATE_RUNNING, STATE_SPAWNING

from locust import stats

log = logging.getLogger(__name__)


class RunReports:
    """The CSVs of --csv PREFIX (history in full with --csv-full-history) and the --html report."""

    def __init__(self, environment, csv_prefix: str | None, full_history: bool, html_file: str | None) -> None:
        self.environment = environment
        self.html_file = html_file
        self.csv = (stats.StatsCSVFileWriter(environment, stats.PERCENTILES_TO_REPORT, csv_prefix, full_history)
                    if csv_prefix else None)
        self.csv_greenlet: gevent.Greenlet | None = None
        environment.events.quitting.add_listener(self._on_quitting)

    @classmethod
    def take_over(cls, environment) -> RunReports | None:
        """Take the report options away from Locust's main (it reads them only after the init event,
        to start its CSV writer and to write the HTML report) and write those files here instead."""
        options = environment.parsed_options
        if not (options.csv_prefix or options.html_file):
            return None
        reports = cls(environment, options.csv_prefix, options.stats_history_enabled, options.html_file)
        options.csv_prefix = options.html_file = None
        reports.start()
        return reports

    def start(self) -> None:
        if self.csv is None:
            return
        self.csv.stats_history_csv_writer.writerow(self.csv.stats_history_csv_columns)
        self.csv_greenlet = gevent.spawn(self._write_csv_every_interval)

    def _write_csv_every_interval(self) -> None:
        while True:
            self.write_csv()
            gevent.sleep(stats.CSV_STATS_INTERVAL_SEC)

    def write_csv(self) -> None:
        """One pass: the statistics, failures and exceptions files rewritten, a history row appended."""
        csv = self.csv
        for handle, write, writer in (
            (csv.requests_csv_filehandle, csv.requests_csv, csv.requests_csv_writer),
            (csv.failures_csv_filehandle, csv.failures_csv, csv.failures_csv_writer),
            (csv.exceptions_csv_filehandle, csv.exceptions_csv, csv.exceptions_csv_writer),
        ):
            handle.seek(0)
            write(writer)  # header and rows
            handle.truncate()
            handle.flush()
        csv._stats_history_data_rows(csv.stats_history_csv_writer, time.time())
        csv.stats_history_csv_filehandle.flush()

    def _on_quitting(self, environment, **_kwargs) -> None:
        runner = environment.runner
        if runner.state in (STATE_SPAWNING, STATE_RUNNING):
            # quitting on SIGTERM or Ctrl-C: Locust would stop the users only after this event, and
            # write stats.json after that; stop them first so that their on_stop requests are in here too
            runner.stop()
        if self.csv is not None:
            if self.csv_greenlet is not None:
                self.csv_greenlet.kill(block=True)
            self.write_csv()
            self.csv.close_files()
        if self.html_file:
            self._write_html()

    def _write_html(self) -> None:
        # Locust's {u}, {r}, {t} placeholders, filled in from the options as Locust fills them in
        options = self.environment.parsed_options
        options.html_file = self.html_file
        process_html_filename(options)
        path, options.html_file = options.html_file, None
        if folder := os.path.dirname(path):
            os.makedirs(folder, exist_ok=True)
        with open(path, "w", encoding="utf-8") as report:
            report.write(get_html_report(self.environment, show_download_link=False))
        log.debug("HTML report written to %s", path)
