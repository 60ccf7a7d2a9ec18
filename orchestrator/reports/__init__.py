"""⑤ Reports: what supervisors read — dispositions, rates, durations, cost, data collected.

`build` assembles a `model.Report` for a campaign or a date range from the counts, outcomes,
fields and utilization modules; `render` (tables), `export` (CSV/JSON), `html` and `svg` (the
dashboard) show it; `live` reads the calls on the line now; `pricing` turns credits into dollars.
"""
