"""Inline CSS and JavaScript of the HTML report (no CDN, no network: the file stands alone)."""

CSS = """
:root { --fg:#1d232b; --muted:#5b6673; --line:#dfe3e8; --bg:#f6f7f9; --ok:#2e9e55; --bad:#d64545;
        --warn:#d9911b; --accent:#2f6fd6; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
       color:var(--fg); background:var(--bg); }
header { background:#1d2733; color:#fff; padding:18px 28px; }
header h1 { margin:0 0 4px; font-size:20px; font-weight:600; }
header .meta { color:#c5cdd6; font-size:13px; }
main { padding:18px 28px 40px; max-width:1500px; }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 18px; margin:0 0 18px; }
h2 { font-size:16px; margin:0 0 10px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; }
.card { flex:1 1 160px; background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .v { font-size:22px; font-weight:600; }
.card .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.03em; }
.badge { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:600; color:#fff; }
.badge.completed { background:var(--ok); } .badge.failed,.badge.aborted { background:var(--bad); }
.badge.completed_with_failures,.badge.canceled,.badge.timed_out,.badge.submit_failed { background:var(--warn); }
table { border-collapse:collapse; width:100%; font-size:12px; }
th, td { padding:4px 6px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; }
td.wrap { white-space:normal; min-width:6em; }
thead th { background:#eef1f5; position:sticky; top:0; white-space:normal; vertical-align:bottom; }
th.sortable { cursor:pointer; user-select:none; }
th.sortable::after { content:" \\2195"; color:#9aa5b1; }
th[aria-sort=ascending]::after { content:" \\25B2"; color:var(--accent); }
th[aria-sort=descending]::after { content:" \\25BC"; color:var(--accent); }
tr.failed td { background:#fdecec; }
.scroll { max-height:620px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
.fig { margin:6px 0 16px; } .fig img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; }
.fig figcaption { color:var(--muted); font-size:12px; margin-top:4px; }
.controls { display:flex; gap:10px; align-items:center; margin-bottom:8px; font-size:13px; }
.controls input, .controls select { font:inherit; padding:3px 6px; }
.muted { color:var(--muted); } .err { color:var(--bad); }
.note { color:var(--muted); font-size:12.5px; margin:6px 0 0; }
#js-errors { display:none; } #js-errors.shown { display:block; background:#fdecec; color:var(--bad);
  padding:8px 12px; border:1px solid var(--bad); border-radius:6px; margin:0 0 12px; }
"""

# Installed first, in <head>: any later error becomes visible in the DOM (and to tests).
ERROR_HOOK_JS = """
(function () {
  function record(msg) {
    var box = document.getElementById('js-errors');
    var n = Number(document.documentElement.getAttribute('data-js-errors') || 0) + 1;
    document.documentElement.setAttribute('data-js-errors', String(n));
    if (box) { box.className = 'shown'; box.appendChild(document.createTextNode('JavaScript error: ' + msg + '\\n')); }
  }
  window.addEventListener('error', function (e) { record(e.message || String(e)); });
  window.addEventListener('unhandledrejection', function (e) { record(String(e.reason)); });
})();
"""

TABLE_JS = """
(function () {
  var table = document.getElementById('jobs');
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var heads = table.tHead.rows[0].cells;
  var phaseSel = document.getElementById('phase-filter');
  var search = document.getElementById('job-search');
  var count = document.getElementById('job-count');

  function key(row, i, numeric) {
    var cell = row.cells[i];
    if (numeric) {
      var v = cell.getAttribute('data-v');
      return v === null || v === '' ? null : Number(v);
    }
    return cell.textContent.toLowerCase();
  }
  function sortBy(i) {
    var th = heads[i];
    var numeric = th.classList.contains('n');
    var dir = th.getAttribute('aria-sort') === 'descending' ? 'ascending'
            : th.getAttribute('aria-sort') === 'ascending' ? 'descending'
            : (numeric ? 'descending' : 'ascending');
    for (var k = 0; k < heads.length; k++) { heads[k].removeAttribute('aria-sort'); }
    th.setAttribute('aria-sort', dir);
    var sign = dir === 'ascending' ? 1 : -1;
    rows.sort(function (a, b) {
      var x = key(a, i, numeric), y = key(b, i, numeric);
      if (x === y) { return 0; }
      if (x === null) { return 1; }   // blanks last either way
      if (y === null) { return -1; }
      return x < y ? -sign : sign;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function filter() {
    var p = phaseSel.value, q = search.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (r) {
      var ok = (!p || r.getAttribute('data-phase') === p) && (!q || r.textContent.toLowerCase().indexOf(q) >= 0);
      r.style.display = ok ? '' : 'none';
      if (ok) { shown++; }
    });
    count.textContent = shown + ' of ' + rows.length + ' job executions';
  }
  for (var i = 0; i < heads.length; i++) {
    if (heads[i].classList.contains('sortable')) {
      heads[i].addEventListener('click', sortBy.bind(null, i));
    }
  }
  phaseSel.addEventListener('change', filter);
  search.addEventListener('input', filter);
  filter();
  document.documentElement.setAttribute('data-report-ready', '1');
})();
"""
